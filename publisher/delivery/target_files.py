"""What delivery needs of a target: its bookkeeping files and its documents' URL paths."""

from __future__ import annotations

from typing import Protocol


class Bookkeeping(Protocol):
    """The part of a target that purges and webhooks record their outcome in."""

    def read_meta(self, name: str) -> bytes | None:
        """Return a bookkeeping file under _publisher/, or None."""
        ...

    def write_meta(self, name: str, body: bytes) -> None:
        """Write a bookkeeping file under _publisher/ atomically."""
        ...
