"""The servers' side of the CDN: fetch a document with an ETag cache, keep the last good copy."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..documents.validate import check_document
from ..errors import DocumentError, StorageError
from ..files import write_atomic
from ..settings import DEFAULT_MAX_DOCUMENT_BYTES


@dataclass(frozen=True)
class Fetched:
    """One conditional GET: 200 with a validated document, or 304 (nothing new)."""

    status: int
    etag: str | None
    body: bytes | None = None
    document: dict[str, Any] | None = None


def fetch_overrides(
    url: str,
    etag: str | None = None,
    timeout: float = 10,
    max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
) -> Fetched:
    """GET `url` with If-None-Match; return 304, or 200 with a validated document.

    Raises StorageError when the server cannot be reached or answers other than 200
    or 304, and DocumentError when the body is not a valid overrides document.
    """
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if etag:
        request.add_header("If-None-Match", etag)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(max_bytes + 1)
            new_etag = response.headers.get("ETag")
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Fetched(304, etag)
        raise StorageError(
            f"{_where(url)} answered HTTP {exc.code}: kept the last good copy"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StorageError(
            f"cannot reach {_where(url)}: {reason}; kept the last good copy"
        ) from None
    if len(body) > max_bytes:
        raise DocumentError(f"{_where(url)}: the body is over {max_bytes:,} bytes")
    return Fetched(200, new_etag, body, check_document(body, _where(url)))


def _where(url: str) -> str:
    # The path holds the API key: name the host only.
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class PullResult:
    status: int
    changed: bool
    age: float | None = None
    warning: str | None = None


def pull(
    url: str,
    out: Path,
    *,
    timeout: float = 10,
    max_stale: float | None = None,
    now: float | None = None,
) -> PullResult:
    """Refresh `out` from `url`; on any failure keep the last good copy.

    A failed fetch raises, unless --max-stale is given and the last good copy was
    confirmed less than that many seconds ago, which is a warning instead.
    """
    meta_path = out.with_name(out.name + ".pull.json")
    meta = _read_meta(meta_path) if out.exists() else {}
    now = time.time() if now is None else now
    try:
        fetched = fetch_overrides(url, meta.get("etag"), timeout)
    except (StorageError, DocumentError) as exc:
        age = now - meta["checked_at"] if "checked_at" in meta else None
        if max_stale is not None and age is not None and age <= max_stale:
            return PullResult(0, False, age, f"{exc.message} (last good copy {age:.0f} s old)")
        if max_stale is not None:
            held = f"{age:.0f} s old" if age is not None else "missing"
            exc.message = (
                f"{exc.message}; the last good copy is {held}, over --max-stale {max_stale:g}"
            )
        raise
    changed = False
    if fetched.status == 200 and fetched.body is not None:
        current = out.read_bytes() if out.exists() else None
        if current != fetched.body:
            write_atomic(out, fetched.body)
            changed = True
    write_atomic(meta_path, json.dumps({"etag": fetched.etag, "checked_at": now}).encode())
    return PullResult(fetched.status, changed, 0.0)


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_bytes())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}
