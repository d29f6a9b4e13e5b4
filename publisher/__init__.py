"""publisher: experiment overrides as static JSON documents behind a CDN.

The library API: `publish` does what `publisher publish` does, with the same settings
as data; nothing here prints.
"""

from __future__ import annotations

from .api import check, history, publish, rollback, send_webhooks, verify
from .delivery.signatures import SignatureError
from .delivery.signatures import verify as verify_webhook
from .documents import render_documents, validate_documents
from .errors import PublisherError
from .publishing.result import PublishResult
from .servers.pull import Fetched, fetch_overrides
from .settings import VERSION, CdnKind, CdnSettings, PublishOptions, StorageSettings
from .state import State, StoppedPolicy, load_state

__version__ = VERSION

__all__ = [
    "CdnKind",
    "CdnSettings",
    "Fetched",
    "PublishOptions",
    "PublishResult",
    "PublisherError",
    "SignatureError",
    "State",
    "StoppedPolicy",
    "StorageSettings",
    "__version__",
    "check",
    "fetch_overrides",
    "history",
    "load_state",
    "publish",
    "render_documents",
    "rollback",
    "send_webhooks",
    "validate_documents",
    "verify",
    "verify_webhook",
]
