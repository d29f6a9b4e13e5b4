"""The publish lock's contents: who holds it, since when, until when (pure)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from ..meta_json import decode_meta, encode_meta
from ..settings import MAX_LOCK_TTL


@dataclass(frozen=True)
class LockInfo:
    host: str
    pid: int
    token: str
    started_at: float
    expires_at: float

    def encode(self) -> bytes:
        return encode_meta(asdict(self))

    def renewed(self, ttl: float, now: float | None = None) -> LockInfo:
        """Return the same lock with its expiry pushed `ttl` seconds past now."""
        now = time.time() if now is None else now
        return replace(self, expires_at=now + min(ttl, MAX_LOCK_TTL))

    def describe(self) -> str:
        return (
            f"host {self.host} pid {self.pid} since {_iso(self.started_at)} "
            f"(expires {_iso(self.expires_at)})"
        )


def new_lock(ttl: float, now: float | None = None) -> LockInfo:
    """Return a lock for this process that expires `ttl` seconds from now."""
    now = time.time() if now is None else now
    expires = now + min(ttl, MAX_LOCK_TTL)  # longer would look stale to the others
    return LockInfo(socket.gethostname(), os.getpid(), uuid.uuid4().hex, now, expires)


def decode_lock(raw: bytes) -> LockInfo | None:
    """Parse a lock's contents; None when it is unreadable (treated as stale)."""
    data = decode_meta(raw, "lock", "lock", warn=False)  # taking it over says so
    if data is None:
        return None
    return LockInfo(
        data["host"], data["pid"], data["token"], data["started_at"], data["expires_at"]
    )


def is_stale(info: LockInfo | None, now: float | None = None) -> bool:
    """True when a lock may be taken over: unreadable, expired, its process gone, or
    expiring further ahead than any publisher sets (MAX_LOCK_TTL, with a minute for
    clocks that differ): a crashed run cannot block a target for longer."""
    if info is None:
        return True
    now = time.time() if now is None else now
    if info.expires_at <= now or info.expires_at > now + MAX_LOCK_TTL + 60:
        return True
    return info.host == socket.gethostname() and not _alive(info.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
