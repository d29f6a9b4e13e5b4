"""`publisher receive`: accept signed webhook pushes and keep FILE current (SPEC §10).

Every request gets one answer and the server keeps running: a malformed length, body,
signature or timestamp is a 4xx. The newest accepted timestamp, the recent
`webhook-id`s and body digests are kept beside FILE (`FILE.receive.json`), so a push
replayed after a restart is refused as well as one replayed while running.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any

from ..delivery.signatures import DEFAULT_TOLERANCE, SignatureError, verify
from ..documents.render import canonical
from ..documents.validate import check_document
from ..errors import DocumentError
from ..files import write_atomic
from ..settings import DEFAULT_MAX_DOCUMENT_BYTES
from .http import BoundedServer, SafeHandler

log = logging.getLogger(__name__)

RECENT_IDS = 1000
MAX_TIMESTAMP = 1 << 40  # a unix time past the year 30000 is not a timestamp


class ReceiveServer(BoundedServer):
    """Verify, validate, write: one document file kept by pushes."""

    def __init__(
        self,
        host: str,
        port: int,
        secret: str,
        out: Path,
        *,
        max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES + 1024,
        tolerance: int = DEFAULT_TOLERANCE,
    ) -> None:
        self.secret = secret
        self.out = out
        self.max_bytes = max_bytes
        self.tolerance = tolerance
        self.write_lock = threading.Lock()
        self.seen = _Seen.load(out.with_name(out.name + ".receive.json"))
        super().__init__((host, port), _Handler)

    def accept(self, headers: dict[str, str], body: bytes) -> tuple[HTTPStatus, str]:
        """Check one push and write the document; return the status and a reason."""
        try:
            verify(headers, body, self.secret, tolerance=self.tolerance)
        except SignatureError as exc:
            return HTTPStatus.UNAUTHORIZED, str(exc)
        payload = _parse(body)
        if not isinstance(payload, dict) or set(payload) != {"timestamp", "overrides"}:
            return HTTPStatus.BAD_REQUEST, 'expected {"timestamp": ..., "overrides": {...}}'
        stamp = payload["timestamp"]
        if type(stamp) is not int or not 0 <= stamp < MAX_TIMESTAMP:
            return HTTPStatus.BAD_REQUEST, "timestamp is not a unix time in whole seconds"
        if abs(time.time() - stamp) > self.tolerance:
            return (
                HTTPStatus.UNAUTHORIZED,
                f"timestamp is more than {self.tolerance} s off: a replay?",
            )
        try:
            document = canonical({"status": 200, "overrides": payload["overrides"]})
            check_document(document, "the pushed document")
        except DocumentError as exc:
            return HTTPStatus.BAD_REQUEST, exc.message
        except (ValueError, RecursionError):
            return HTTPStatus.BAD_REQUEST, "the overrides cannot be written as a document"
        message_id = {k.lower(): v for k, v in headers.items()}.get("webhook-id")
        # The body's digest too: a replay may drop the webhook-id (GrowthBook's header
        # alone signs it), but not change a byte of what was signed.
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        with self.write_lock:
            refused = self.seen.refuses(stamp, message_id, digest)
            if refused:
                return HTTPStatus.CONFLICT, refused
            write_atomic(self.out, document)
            self.seen.record(stamp, message_id, digest)
        return HTTPStatus.OK, "stored"


def _parse(body: bytes) -> Any:
    """Parse a body as JSON without NaN, Infinity or nesting past the decoder's limit."""
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Seen:
    """The newest accepted timestamp and recent webhook-ids, kept in a file beside FILE."""

    def __init__(self, path: Path, newest: int, ids: list[str]) -> None:
        self.path = path
        self.newest = newest
        self.ids = ids

    @classmethod
    def load(cls, path: Path) -> _Seen:
        try:
            data = json.loads(path.read_bytes())
            newest = data["newest"]
            ids = [str(i) for i in data["ids"]][-RECENT_IDS:]
            return cls(path, newest if type(newest) is int else -1, ids)
        except (OSError, ValueError, KeyError, TypeError):
            return cls(path, -1, [])

    def refuses(self, stamp: int, message_id: str | None, digest: str) -> str | None:
        """Say why a push is a replay, or None."""
        if message_id is not None and message_id in self.ids:
            return "this webhook-id was already received: a replay"
        if digest in self.ids:
            return "this very body was already received: a replay"
        if stamp < self.newest:
            return "older than the document held: not stored"
        return None

    def record(self, stamp: int, message_id: str | None, digest: str) -> None:
        self.newest = max(self.newest, stamp)
        seen = [message_id, digest] if message_id is not None else [digest]
        self.ids = [*self.ids, *seen][-RECENT_IDS:]
        body = json.dumps({"newest": self.newest, "ids": self.ids}).encode()
        write_atomic(self.path, body)


class _Handler(SafeHandler):
    server: ReceiveServer
    server_version = "publisher-receive"

    def do_POST(self) -> None:
        length = self.body_length()
        if length is None:
            self._reply(HTTPStatus.LENGTH_REQUIRED, "a Content-Length of digits is required")
            return
        if length > self.server.max_bytes:
            self._discard(length)
            self.close_connection = True
            self._reply(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"over {self.server.max_bytes:,} bytes"
            )
            return
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away, or the deadline passed
            self.close_connection = True
            return
        try:
            status, reason = self.server.accept(dict(self.headers.items()), body)
        except OSError as exc:  # FILE cannot be written: the sender retries later
            status, reason = HTTPStatus.SERVICE_UNAVAILABLE, f"cannot store: {exc.strerror}"
        log.info("push from %s: %d %s", self.address_string(), status, reason)
        self._reply(status, reason)

    def _discard(self, length: int) -> None:
        # Read (a bounded part of) the body so the sender sees the answer, not a reset.
        left = min(length, 16 * 1024 * 1024)
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)

    def do_GET(self) -> None:
        self.drop_body()
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, "POST the webhook here")

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _reply(self, status: HTTPStatus, reason: str) -> None:
        body = json.dumps({"status": int(status), "message": reason}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
