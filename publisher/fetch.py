"""The one bounded HTTP client: a total deadline, a size cap, redirects only to http(s).

`urllib`'s timeout bounds each read, so a server sending a byte a second holds it
forever; here the socket is shut down when the deadline passes. `pull` GETs through it,
webhooks POST and the HTTP purger sends PURGE: none can be held past its deadline while
a publish holds the lock.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from dataclasses import dataclass
from email.message import Message
from urllib.parse import quote, urljoin, urlsplit

from .errors import StorageError, UsageError
from .redact import url_for_display

MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes
    url: str
    """Where the answer came from, after redirects."""


def is_http_url(url: str) -> bool:
    """Whether `url` is an http(s) URL with a host and a valid port, of printable ASCII."""
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  (raises for a bad port)
    except ValueError:
        return False
    return valid and url.isascii() and not any(c.isspace() or c < " " for c in url)


def check_base_url(url: str, option: str) -> None:
    """Raise a usage error unless `url` is an http(s) URL with a host (an edge's base)."""
    if not is_http_url(url):
        shown = url_for_display(url) if url else "''"
        raise UsageError(f"{option} {shown}: not an http:// or https:// URL with a host")


def get(
    url: str,
    headers: dict[str, str] | None = None,
    *,
    timeout: float = 10.0,
    max_bytes: int = 1 << 20,
) -> Response:
    """GET `url` within `timeout` seconds in all; raise StorageError when it cannot.

    A body over `max_bytes` is cut at `max_bytes + 1` bytes (the caller sees it is over).
    """
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        response = _once("GET", url, None, headers or {}, deadline, max_bytes)
        location = response.headers.get("Location")
        if response.status not in _REDIRECTS or not location:
            return response
        try:
            url = urljoin(url, location)
            scheme = urlsplit(url).scheme.lower()
        except ValueError:
            raise StorageError("redirected to an invalid URL: not followed") from None
        if scheme not in ("http", "https"):
            raise StorageError(f"redirected to {url_for_display(url)}: only http(s) is followed")
    raise StorageError(f"more than {MAX_REDIRECTS} redirects from {url_for_display(url)}")


def send(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    timeout: float = 10.0,
    max_bytes: int = 65536,
) -> Response:
    """Send one request (no redirect followed: a 3xx is the answer) within `timeout`
    seconds in all; raise StorageError when there is no complete answer."""
    return _once(method, url, body, headers or {}, time.monotonic() + timeout, max_bytes)


def _once(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    deadline: float,
    max_bytes: int,
) -> Response:
    shown = url_for_display(url)
    left = deadline - time.monotonic()
    if left <= 0:
        raise StorageError(f"{shown} did not answer in time")
    try:
        parts = urlsplit(url)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = kind(parts.hostname or "", parts.port, timeout=left)
    except (ValueError, http.client.HTTPException):  # a bad port or host
        raise StorageError(f"{shown}: not a URL that can be fetched") from None
    timer: threading.Timer | None = None
    try:
        conn.connect()
        # The response may outlive conn.sock (a closing answer takes the socket over):
        # hold the socket itself, and shut it down when the deadline passes.
        timer = threading.Timer(deadline - time.monotonic(), _shut, (conn.sock,))
        timer.daemon = True
        timer.start()
        path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")  # non-ASCII: encoded
        target = path + (f"?{quote(parts.query, safe='=&%+')}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers)
        answer = conn.getresponse()
        data = b"" if method == "HEAD" else answer.read(max_bytes + 1)
        if len(data) <= max_bytes and answer.length:  # cut short: the deadline, or a reset
            raise http.client.IncompleteRead(data, answer.length)
        return Response(answer.status, answer.headers, data, url)
    except (OSError, http.client.HTTPException) as exc:
        late = time.monotonic() >= deadline
        why = "no complete answer in time" if late else (str(exc) or type(exc).__name__)
        raise StorageError(f"cannot reach {shown}: {why}") from None
    finally:
        if timer is not None:
            timer.cancel()
        conn.close()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
