"""publisher: experiment overrides as static JSON documents behind a CDN."""

from __future__ import annotations

from .errors import PublisherError
from .model import State
from .publish import PublishOptions, PublishResult, publish
from .render import render_documents
from .state import load_state
from .validate import validate_documents

__version__ = "0.1.0"

__all__ = [
    "PublishOptions",
    "PublishResult",
    "PublisherError",
    "State",
    "__version__",
    "load_state",
    "publish",
    "render_documents",
    "validate_documents",
]
