"""publisher: experiment overrides as static JSON documents behind a CDN."""

from __future__ import annotations

from .errors import PublisherError
from .model import State
from .publish import PublishOptions, PublishResult, publish
from .pull import Fetched, fetch_overrides
from .render import render_documents
from .signatures import SignatureError
from .signatures import verify as verify_webhook
from .state import load_state
from .validate import validate_documents

__version__ = "0.1.0"

__all__ = [
    "Fetched",
    "PublishOptions",
    "PublishResult",
    "PublisherError",
    "SignatureError",
    "State",
    "__version__",
    "fetch_overrides",
    "load_state",
    "publish",
    "render_documents",
    "validate_documents",
    "verify_webhook",
]
