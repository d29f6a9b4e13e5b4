"""The S3-compatible target: objects at `<prefix>/config/<key>` with headers and metadata."""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..aws import BOOKKEEPING, Headers, S3Bucket, is_not_implemented, is_precondition_failed
from ..documents.render import CONTENT_TYPE, Document
from ..errors import LockHeldError, Problem, StorageError, UsageError
from ..meta_json import UNREADABLE, meta_cap, too_large
from ..names import BUCKET_NAME
from ..redact import KEY_NAME, key_label, plural, printable
from ..settings import DEFAULT_CACHE_CONTROL, DOCUMENT_READ_CAP
from ..threads import to_the_end
from .interface import CONFIG, META, LiveObject
from .listing_ranges import list_ranges
from .publish_lock import LockInfo, decode_lock, is_stale

log = logging.getLogger(__name__)

_MD5 = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    """Empty, or ending in `/`."""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


def parse_s3_url(url: str) -> S3Location:
    """Split `s3://bucket[/prefix]`; raise a usage error for anything else."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    shown = printable(url)
    if not BUCKET_NAME.fullmatch(bucket):
        raise UsageError(f"{shown}: not a valid bucket name (3-63 of a-z, 0-9, '.', '-')")
    prefix = prefix.strip("/")
    if {".", ".."} & set(prefix.split("/")) or "//" in prefix:
        raise UsageError(f"{shown}: the prefix must not contain '.', '..' or empty segments")
    if any(c < " " or c == "\x7f" for c in prefix):
        raise UsageError(f"{shown}: the prefix must not contain a control character")
    return S3Location(bucket, f"{prefix}/" if prefix else "")


class Uploads(Protocol):
    """PUTs in native code (aws/native.py), callable from many threads."""

    def put(self, key: str, body: bytes, attributes: dict[str, str]) -> str: ...


ROUND_TRIP_RATE = 16_000
"""PUTs a second the native uploads can send: in flight, this rate times the store's round
trip keeps a distant store busy. Past MOST threads the interpreter lock, handed between
more of them, costs more than they add; `python bench/upload_clients.py` measures it
(bench/README.md has the figures and the memory they cost)."""
FEWEST, MOST, THREADS_MOST = 32, 512, 64


def auto_concurrency(round_trips: Sequence[float]) -> int:
    """Uploads in flight for a store whose requests took `round_trips` seconds: FEWEST for
    a store on this machine or next to it (more only queue at moto or a small MinIO),
    more for one farther away (the round trip times ROUND_TRIP_RATE), at most MOST."""
    if not round_trips:
        return FEWEST
    typical = sorted(round_trips)[len(round_trips) // 2]
    return max(FEWEST, min(MOST, math.ceil(typical * ROUND_TRIP_RATE)))


def _live(name: str, etag: str) -> LiveObject | None:
    """A listed object as the plan sees it; None for what the publisher does not own."""
    if not KEY_NAME.fullmatch(name):
        return None
    return LiveObject(etag if _MD5.fullmatch(etag) else None)


class S3Target:
    """Documents as objects; bookkeeping under `<prefix>/_publisher/`; a conditional-write lock."""

    def __init__(
        self,
        location: S3Location,
        bucket: S3Bucket,
        *,
        cache_control: str = DEFAULT_CACHE_CONTROL,
        concurrency: int | None = None,
        lock: bool = True,
        uploads: Callable[[], Uploads | None] | None = None,
    ) -> None:
        self.location = location
        self.bucket = bucket
        self.description = str(location)
        self._concurrency = concurrency
        self.ranges_pay: bool | None = None
        self._make_uploads = uploads
        self._uploads: Uploads | None = None
        self._made = False
        self._making = threading.Lock()
        self.cache_control = cache_control
        self.use_lock = lock
        self._config = f"{location.prefix}{CONFIG}/"
        self._meta = f"{location.prefix}{META}/"
        self._lock_key = f"{self._meta}lock"
        self._lock_etag: str | None = None

    @property
    def concurrency(self) -> int:
        """Uploads in flight: as given, else chosen from the store's round trip so far."""
        if self._concurrency is not None:
            return self._concurrency
        chosen = auto_concurrency(self.bucket.round_trips)
        return chosen if self._native() is not None else min(chosen, THREADS_MOST)

    def _native(self) -> Uploads | None:
        """The native uploads, made at the first need (None: botocore sends the PUTs)."""
        if not self._made and self._make_uploads is not None:
            with self._making:
                if not self._made:
                    self._uploads = self._make_uploads()
                    self._made = True
        return self._uploads

    @property
    def headers(self) -> dict[str, str]:
        """What every document is put with, beside its sha256."""
        return {"Cache-Control": self.cache_control, "Content-Type": CONTENT_TYPE}

    def keep_headers(self, recorded: Mapping[str, str]) -> None:
        self.cache_control = recorded.get("Cache-Control", self.cache_control)

    # documents

    def list_live(self, bounds: Sequence[str] = ()) -> dict[str, LiveObject]:
        # Ranges (b[i], b[i+1]] side by side where the store answers them together; each
        # page is sorted out on its own thread, while other requests are out.
        listed, self.ranges_pay = list_ranges(self._page, bounds[: (self._concurrency or 32) - 1])
        return {name: found for name, found in listed.items() if found is not None}

    def _page(self, after: str | None) -> tuple[list[tuple[str, LiveObject | None]], bool]:
        objects, more = self.bucket.list_page(self._config, after)
        return [(name, _live(name, etag)) for name, etag in objects], more

    def read_document(self, key: str) -> bytes | None:
        found = self.bucket.get(self._config + key, DOCUMENT_READ_CAP)
        return found.body if found else None  # too large: b"", no document's bytes

    def document_sha256(self, key: str) -> str | None:
        found = self.bucket.metadata(self._config + key)
        return None if found is None else found.get("sha256")

    def put_document(self, key: str, document: Document) -> None:
        native = self._native()
        if native is not None:  # the interpreter lock is let go while the request is out
            native.put(
                self._config + key,
                document.body,
                {
                    "Content-Type": CONTENT_TYPE,
                    "Cache-Control": self.cache_control,
                    "sha256": document.sha256,
                },
            )
            return
        headers = Headers(
            CONTENT_TYPE, self.cache_control, {"sha256": document.sha256}, document.md5
        )
        self.bucket.put(self._config + key, document.body, headers)

    def delete_documents(self, keys: Sequence[str]) -> None:
        failed = to_the_end(lambda: self.bucket.delete_many([self._config + k for k in keys]))
        if failed:
            problems = [Problem(f"key {key_label(k.rsplit('/', 1)[-1])}", why) for k, why in failed]
            count = f"{len(failed)} {plural(len(failed), 'document')}"
            raise StorageError(f"{count} could not be deleted; re-run", problems)

    # bookkeeping

    def read_meta(self, name: str) -> bytes | None:
        return self.read_meta_tagged(name)[0]

    def read_meta_tagged(self, name: str) -> tuple[bytes | None, str | None]:
        found = self.bucket.get(self._meta + name, meta_cap(name))
        if found is not None and found.too_large:
            too_large(name)
            return UNREADABLE, None
        return (found.body, found.etag) if found else (None, None)

    def meta_unchanged(self, name: str, tag: str | None) -> bool:
        if tag is None:
            return self.bucket.metadata(self._meta + name) is None
        return self.bucket.unchanged(self._meta + name, tag)

    def write_meta(self, name: str, body: bytes) -> None:
        to_the_end(lambda: self.bucket.put(self._meta + name, body, BOOKKEEPING))

    def delete_meta(self, names: Sequence[str]) -> None:
        failed = to_the_end(lambda: self.bucket.delete_many([self._meta + n for n in names]))
        if failed:
            raise StorageError(f"{len(failed)} bookkeeping files could not be deleted; re-run")

    # lock

    def acquire_lock(self, info: LockInfo) -> None:
        if not self.use_lock:
            return
        try:
            self._put_lock(info, if_none_match=True)
            return
        except Exception as exc:
            if not is_precondition_failed(exc):
                raise
        held = self.bucket.get(self._lock_key, meta_cap("lock"))
        holder = decode_lock(held.body or b"") if held else None
        if held is not None and holder is not None and holder.token == info.token:
            self._lock_etag = held.etag  # our own write, answered 412 on a retry
            return
        if held is not None and not is_stale(holder):
            assert holder is not None
            raise LockHeldError(
                f"{self.description} is being published by {holder.describe()}: wait for it "
                f"to finish; if that process is gone, delete s3://{self.bucket.bucket}/{self._lock_key}"
            )
        try:  # stale or gone: take it over only if nobody changed it meanwhile
            if held is None:
                self._put_lock(info, if_none_match=True)
            else:
                self._put_lock(info, if_match=held.etag)
            log.warning("took over a stale lock on %s", self.description)
        except Exception as exc:
            if is_precondition_failed(exc):
                raise LockHeldError(
                    f"{self.description}: another publisher took the lock at the same moment"
                ) from None
            raise

    def _put_lock(
        self, info: LockInfo, *, if_none_match: bool = False, if_match: str | None = None
    ) -> None:
        """Write the lock and keep its ETag. The ETag is kept by the request's own thread:
        a Ctrl-C while it is out waits for it, and the lock it wrote is then released."""

        def put() -> None:
            self._lock_etag = self.bucket.put(
                self._lock_key,
                info.encode(),
                BOOKKEEPING,
                if_none_match=if_none_match,
                if_match=if_match,
            )

        try:
            to_the_end(put)
        except Exception as exc:
            if is_not_implemented(exc):
                raise StorageError(
                    f"{self.bucket.endpoint} does not support conditional writes, which the "
                    "publish lock needs: pass --no-lock if only one publisher ever runs at a time"
                ) from None
            raise

    def refresh_lock(self, info: LockInfo) -> None:
        if not self.use_lock or self._lock_etag is None:
            return
        try:
            self._put_lock(info, if_match=self._lock_etag)
        except Exception as exc:
            if not is_precondition_failed(exc):
                raise
            held = self.bucket.get(self._lock_key, meta_cap("lock"))
            if held is None or held.body != info.encode():  # not our own retried write
                raise StorageError(
                    f"lost the lock on {self.description}: another publisher took it over"
                ) from None
            self._lock_etag = held.etag

    def release_lock(self, info: LockInfo) -> None:
        if not self.use_lock or self._lock_etag is None:
            return
        etag = self._lock_etag
        try:
            to_the_end(lambda: self.bucket.delete(self._lock_key, if_match=etag))
        except Exception as exc:
            if is_not_implemented(exc):
                held = self.bucket.get(self._lock_key, meta_cap("lock"))
                if held is not None and held.etag == self._lock_etag:
                    self.bucket.delete(self._lock_key)
            elif not is_precondition_failed(exc):  # someone took it over: theirs now
                raise
        self._lock_etag = None
