"""The documents: render the state (pure, canonical bytes), diff them, validate them."""

from __future__ import annotations

from .render import Document, Rendered, render_documents
from .validate import validate_documents

__all__ = ["Document", "Rendered", "render_documents", "validate_documents"]
