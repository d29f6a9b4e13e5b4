"""A local directory target: atomic file writes, no symlink followed, a lock file looked at
only under an OS file lock."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..documents.render import Document
from ..errors import LockHeldError, StorageError, UsageError
from ..files import TooLarge, read_regular, write_atomic
from ..meta_json import UNREADABLE, meta_cap, too_large
from ..redact import KEY_NAME, key_label
from ..settings import DOCUMENT_READ_CAP
from .interface import CONFIG, META, LiveObject
from .publish_lock import LockInfo, decode_lock, is_stale

log = logging.getLogger(__name__)
TOO_LARGE = "too-large"
"""What a live document over the read cap counts as: no MD5 or sha256 of any document."""

GUARD_WAIT = 10.0
"""Seconds to wait for the OS lock on _publisher/lock.guard before exit 5."""


class LocalTarget:
    """Documents at `<root>/config/<key>`, bookkeeping at `<root>/_publisher/`."""

    def __init__(self, root: Path, concurrency: int = 4, guard_wait: float = GUARD_WAIT) -> None:
        if root.exists() and not root.is_dir():
            raise UsageError(f"--target {root}: exists and is not a directory")
        self.root = root
        self.description = str(root)
        self.concurrency = concurrency
        self.ranges_pay: bool | None = None  # a directory is listed in one go
        self.config = root / CONFIG
        self.meta = root / META
        self._tmp = self.meta / "tmp"
        self.guard_wait = guard_wait

    headers = None  # files keep no headers: `publisher serve` (or the server) sets them

    def keep_headers(self, recorded: Mapping[str, str]) -> None:
        pass

    # documents

    def list_live(self, bounds: Sequence[str] = ()) -> dict[str, LiveObject]:
        live: dict[str, LiveObject] = {}
        try:
            entries = list(os.scandir(self.config))
        except FileNotFoundError:
            return live
        except OSError as exc:
            raise StorageError(f"cannot list {self.config}: {exc.strerror}") from None
        for entry in entries:
            if KEY_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                try:
                    body = self._read(Path(entry.path), DOCUMENT_READ_CAP)
                except TooLarge:  # differs from every document: written anew
                    live[entry.name] = LiveObject(TOO_LARGE)
                    continue
                if body is not None:
                    live[entry.name] = LiveObject(
                        hashlib.md5(body, usedforsecurity=False).hexdigest()
                    )
        return live

    def read_document(self, key: str) -> bytes | None:
        try:
            return self._read(self.config / key, DOCUMENT_READ_CAP)
        except TooLarge:
            return b""  # no document's bytes: it differs

    def document_sha256(self, key: str) -> str | None:
        try:
            body = self._read(self.config / key, DOCUMENT_READ_CAP)
        except TooLarge:
            return TOO_LARGE  # no document's digest: not the publisher's
        return None if body is None else hashlib.sha256(body).hexdigest()

    def put_document(self, key: str, document: Document) -> None:
        try:
            self._write_atomic(self.config / key, document.body)
        except OSError as exc:
            raise StorageError(f"cannot write the document: {exc.strerror}") from None

    def delete_documents(self, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                (self.config / key).unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StorageError(
                    f"cannot delete the document of key {key_label(key)}: {exc.strerror}"
                ) from None

    # bookkeeping

    def read_meta(self, name: str) -> bytes | None:
        try:
            body = self._read(self.meta / name, meta_cap(name))
        except TooLarge:
            too_large(name)
            return UNREADABLE
        if body is None and os.path.lexists(self.meta / name):
            log.warning("ignoring _publisher/%s: not a regular file", name)
            return UNREADABLE
        return body

    def read_meta_tagged(self, name: str) -> tuple[bytes | None, str | None]:
        path = self.meta / name
        tag = self._tag(path)
        body = self.read_meta(name)
        if body is None or self._tag(path) != tag:  # replaced while read: no tag to trust
            return body, None
        return body, tag

    def meta_unchanged(self, name: str, tag: str | None) -> bool:
        return self._tag(self.meta / name) == tag

    def _tag(self, path: Path) -> str | None:
        # Every write is a rename of a new file: a new inode, whatever the size and time.
        try:
            stat = path.stat()
        except OSError:
            return None
        return f"{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"

    def write_meta(self, name: str, body: bytes) -> None:
        self._refuse_linked(self.meta / name)
        try:
            self._write_atomic(self.meta / name, body)
        except OSError as exc:
            raise StorageError(f"cannot write {self.meta / name}: {exc.strerror}") from None

    def delete_meta(self, names: Sequence[str]) -> None:
        for name in names:
            self._refuse_linked(self.meta / name)
            try:
                (self.meta / name).unlink(missing_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot delete {self.meta / name}: {exc.strerror}") from None

    # lock

    @property
    def lock_path(self) -> Path:
        return self.meta / "lock"

    def _refuse_symlinks(self) -> None:
        """Refuse to write through a symlink where documents, bookkeeping or the lock live."""
        for path in (self.config, self.meta, self._tmp, self.lock_path):
            _refuse_link(path)
        for folder in ("generations", "bodies", "history"):
            _refuse_link(self.meta / folder)

    def _refuse_linked(self, path: Path) -> None:
        """Refuse a bookkeeping path with a symbolic link on the way under _publisher/."""
        for part in [path, *path.parents]:
            _refuse_link(part)
            if part == self.meta:
                return

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Hold an OS lock on `_publisher/lock.guard` while the lock file is looked at.

        Every take, takeover, refresh and release of the lock happens under it, so two
        publishers can never both decide a lock is stale and both take it. The OS drops
        it when its process dies; the file itself stays (it holds nothing).
        """
        try:
            fd = os.open(self.meta / "lock.guard", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open {self.meta}/lock.guard: {exc.strerror}") from None
        try:
            self._take_guard(fd)
            yield
        finally:
            os.close(fd)

    def _take_guard(self, fd: int) -> None:
        """The OS lock, waited for at most GUARD_WAIT seconds: a publisher holds it for
        a moment; a process that holds it longer is stuck, or not a publisher."""
        deadline = time.monotonic() + self.guard_wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeldError(
                        f"another process has held {self.meta}/lock.guard for over "
                        f"{self.guard_wait:g} s (a publisher holds it for a moment): find it "
                        f"with `fuser {self.meta}/lock.guard`, or wait and re-run"
                    ) from None
                time.sleep(0.05)

    def acquire_lock(self, info: LockInfo) -> None:
        self._refuse_symlinks()
        try:
            self.meta.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {self.meta}: {exc.strerror}") from None
        with self._guard():
            held = decode_lock(self._lock_bytes())
            if self.lock_path.exists() and not is_stale(held):
                assert held is not None
                raise LockHeldError(
                    f"{self.root} is being published by {held.describe()}: wait for it to "
                    f"finish; if that process is gone, remove {self.lock_path}"
                )
            self._write_lock(info)  # absent, or stale: expired or its process died
        self._clean_tmp()

    def _write_lock(self, info: LockInfo) -> None:
        try:
            write_atomic(self.lock_path, info.encode(), tmp_dir=self._tmp)
        except OSError as exc:
            raise StorageError(
                f"cannot write the lock {self.lock_path}: {exc.strerror}; nothing was published"
            ) from None

    def refresh_lock(self, info: LockInfo) -> None:
        with self._guard():
            held = decode_lock(self._lock_bytes())
            if held is None or held.token != info.token:
                raise StorageError(
                    f"lost the lock {self.lock_path}: another publisher took it over"
                )
            self._write_lock(info)

    def release_lock(self, info: LockInfo) -> None:
        with self._guard():
            held = decode_lock(self._lock_bytes())
            if held is not None and held.token == info.token:
                self.lock_path.unlink(missing_ok=True)

    # helpers

    def _lock_bytes(self) -> bytes:
        """The lock's bytes (b"" for none, or one too large: a stale lock)."""
        try:
            return self._read(self.lock_path, meta_cap("lock")) or b""
        except TooLarge:
            return b""

    def _read(self, path: Path, limit: int) -> bytes | None:
        """A regular file's bytes, at most `limit` + 1 (a larger one is then told by its
        length: a document that differs, a bookkeeping file that is ignored); None for
        nothing there or anything but a regular file (a FIFO would block a publish, a
        device never end): a document is then written anew, bookkeeping counts as absent."""
        try:
            return read_regular(path, limit)
        except OSError as exc:
            raise StorageError(f"cannot read {path.parent}/…: {exc.strerror}") from None

    def _write_atomic(self, path: Path, body: bytes) -> None:
        # The temp file lives under _publisher/tmp: same filesystem, never served.
        write_atomic(path, body, tmp_dir=self._tmp)

    def _clean_tmp(self) -> None:
        # Left by a publisher that was killed mid-write; we hold the lock, so none is live.
        try:
            for entry in os.scandir(self._tmp):
                if not entry.is_dir(follow_symlinks=False):
                    Path(entry.path).unlink(missing_ok=True)
        except FileNotFoundError:
            pass


def _refuse_link(path: Path) -> None:
    """A symbolic link where documents, bookkeeping or the lock live is refused (exit 4)."""
    if path.is_symlink():
        raise StorageError(
            f"{path} is a symbolic link: publisher never writes, deletes or locks "
            f"through one; make it a real {'directory' if path.is_dir() else 'file'} "
            "(or remove it) and re-run"
        )
