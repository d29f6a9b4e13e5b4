"""The interface every target implements; the publish algorithm knows only this."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from ..documents.render import Document
from .publish_lock import LockInfo

CONFIG = "config"
META = "_publisher"


class LiveObject(NamedTuple):
    """A document found on the target; `md5` is None where the store's ETag is not an MD5."""

    md5: str | None


class Target(Protocol):
    """A place documents are published to, with its bookkeeping and lock."""

    description: str
    ranges_pay: bool | None
    """Whether the last listing's ranges paid off side by side (None: not known)."""

    @property
    def concurrency(self) -> int:
        """Writes in flight at once."""
        ...

    @property
    def headers(self) -> dict[str, str] | None:
        """The headers every document is stored with (None: a store that keeps none, a
        directory): part of what makes a live document unchanged."""
        ...

    def keep_headers(self, recorded: Mapping[str, str]) -> None:
        """Store documents from now on with the headers a manifest records for those
        already stored (a rollback puts documents back among them), not the configured
        ones; a store that keeps no headers ignores it."""
        ...

    def list_live(self, bounds: Sequence[str] = ()) -> dict[str, LiveObject]:
        """Return every document under config/ that the publisher owns, by API key.

        `bounds` (sorted name prefixes) split the names into ranges a store may list side
        by side; a store that lists in one go ignores them. Afterwards `ranges_pay` says
        whether listing them side by side paid off (None: not known)."""
        ...

    def read_document(self, key: str) -> bytes | None:
        """Return a live document's bytes, or None when there is none."""
        ...

    def document_sha256(self, key: str) -> str | None:
        """Return the sha256 of a live document's bytes as publisher wrote it, or None
        when there is none (or, on S3, it carries no publisher metadata)."""
        ...

    def put_document(self, key: str, document: Document) -> None:
        """Write one document so that a reader sees the old or the new bytes, never a mix."""
        ...

    def delete_documents(self, keys: Sequence[str]) -> None:
        """Delete documents; deleting one that is already gone is not an error."""
        ...

    def read_meta(self, name: str) -> bytes | None:
        """Return a bookkeeping file under _publisher/, or None."""
        ...

    def read_meta_tagged(self, name: str) -> tuple[bytes | None, str | None]:
        """Return a bookkeeping file and a tag that changes whenever the file does."""
        ...

    def meta_unchanged(self, name: str, tag: str | None) -> bool:
        """True when the file still has `tag`, or is still missing when `tag` is None (S3: a
        conditional request, no body)."""
        ...

    def write_meta(self, name: str, body: bytes) -> None:
        """Write a bookkeeping file under _publisher/ atomically."""
        ...

    def delete_meta(self, names: Sequence[str]) -> None:
        """Delete bookkeeping files under _publisher/ (one already gone is no error)."""
        ...

    def acquire_lock(self, info: LockInfo) -> None:
        """Take the publish lock or raise LockHeldError naming the holder."""
        ...

    def refresh_lock(self, info: LockInfo) -> None:
        """Push the held lock's expiry forward."""
        ...

    def release_lock(self, info: LockInfo) -> None:
        """Release the lock if this publisher still holds it."""
        ...
