"""The servers' side of the CDN: fetch a document with an ETag cache, keep the last good copy."""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..documents.validate import check_document
from ..errors import DocumentError, StorageError, UsageError
from ..fetch import get, is_http_url
from ..files import write_atomic
from ..redact import printable, remember_keys, scrub
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

    `timeout` bounds the whole fetch. Raises UsageError for a URL that is not http(s),
    StorageError when the server cannot be reached or answers other than 200 or 304,
    and DocumentError when the body is not a valid overrides document.
    """
    check_url(url)
    headers = {"Accept": "application/json"}
    if etag:
        headers["If-None-Match"] = etag
    response = get(url, headers, timeout=timeout, max_bytes=max_bytes)
    where = _where(url)
    if response.status == 304:
        return Fetched(304, etag)
    if response.status != 200:
        raise StorageError(f"{where} answered HTTP {response.status}{_said(response.body)}")
    if len(response.body) > max_bytes:
        raise DocumentError(f"{where}: the body is over {max_bytes:,} bytes")
    document = check_document(response.body, where)
    return Fetched(200, response.headers.get("ETag"), response.body, document)


def check_url(url: str) -> None:
    """Raise a usage error unless `url` is an http(s) URL with a host.

    The URL's path holds an API key: from now on every output shows it as a label.
    """
    # The key is what follows /config/; a URL pasted without its scheme may be a bare key.
    segments = url.split("/")
    after = [s for i, s in enumerate(segments) if i and segments[i - 1] == "config"]
    remember_keys([*after, segments[-1]] if "://" in url else [url])
    if not is_http_url(url):
        raise UsageError(
            f"{scrub(printable(url))}: not an http:// or https:// URL of printable ASCII "
            "(give the whole URL, e.g. https://cdn.example.com/config/<key>)"
        )


def _said(body: bytes) -> str:
    """The server's own words from a JSON error body (`{"error": "Invalid API key"}`)."""
    try:
        value = json.loads(body[:4096])
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    said = value.get("error") or value.get("message") if isinstance(value, dict) else None
    return f" ({scrub(printable(said[:200]))})" if isinstance(said, str) and said else ""


def _where(url: str) -> str:
    # The path holds the API key: name the host only.
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


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
    check_url(url)
    meta_path = out.with_name(out.name + ".pull.json")
    held = out.exists()
    meta = _read_meta(meta_path) if held else {}
    now = time.time() if now is None else now
    checked = meta.get("checked_at")
    age = now - checked if held and isinstance(checked, int | float) else None
    try:
        fetched = fetch_overrides(url, meta.get("etag"), timeout)
        if fetched.status == 304 and not held:
            raise StorageError(
                f"{_where(url)} answered 304 Not Modified, but there is no saved copy to keep"
            )
    except (StorageError, DocumentError) as exc:
        if max_stale is not None and age is not None and age <= max_stale:
            return PullResult(
                0, False, age, f"{exc.message}; kept the last good copy ({age:.0f} s old)"
            )
        exc.message += _kept(held, age, max_stale)
        raise
    changed = False
    try:
        body = fetched.body
        if body is not None and (out.read_bytes() if held else None) != body:
            write_atomic(out, body)
            changed = True
        write_atomic(meta_path, json.dumps({"etag": fetched.etag, "checked_at": now}).encode())
    except OSError as exc:
        raise StorageError(f"cannot write {out}: {exc.strerror}") from None
    return PullResult(fetched.status, changed, 0.0)


def _kept(held: bool, age: float | None, max_stale: float | None) -> str:
    """Say what FILE holds now that the fetch failed."""
    if not held:
        return "; there is no last good copy yet"
    kept = "; kept the last good copy" + (f" ({age:.0f} s old)" if age is not None else "")
    if max_stale is not None:
        kept += f", over --max-stale {max_stale:g}"
    return kept


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_bytes())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError, RecursionError):
        return {}
