"""`publisher receive`: accept signed webhook pushes and keep FILE current (SPEC §10)."""

from __future__ import annotations

import json
import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..delivery.signatures import DEFAULT_TOLERANCE, SignatureError, verify
from ..documents.render import canonical
from ..documents.validate import check_document
from ..errors import DocumentError
from ..files import write_atomic
from ..settings import DEFAULT_MAX_DOCUMENT_BYTES

log = logging.getLogger(__name__)


class ReceiveServer(ThreadingHTTPServer):
    """Verify, validate, write: one document file kept by pushes."""

    daemon_threads = True

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
        self.last_timestamp = -1
        super().__init__((host, port), _Handler)

    def accept(self, headers: dict[str, str], body: bytes) -> tuple[HTTPStatus, str]:
        """Check one push and write the document; return the status and a reason."""
        try:
            verify(headers, body, self.secret, tolerance=self.tolerance)
        except SignatureError as exc:
            return HTTPStatus.UNAUTHORIZED, str(exc)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return HTTPStatus.BAD_REQUEST, "the body is not JSON"
        if not isinstance(payload, dict) or set(payload) != {"timestamp", "overrides"}:
            return HTTPStatus.BAD_REQUEST, 'expected {"timestamp": ..., "overrides": {...}}'
        stamp = payload["timestamp"]
        if not isinstance(stamp, int) or isinstance(stamp, bool):
            return HTTPStatus.BAD_REQUEST, "timestamp is not a whole number"
        if abs(time.time() - stamp) > self.tolerance:
            return (
                HTTPStatus.UNAUTHORIZED,
                f"timestamp is more than {self.tolerance} s off: a replay?",
            )
        document = canonical({"status": 200, "overrides": payload["overrides"]})
        try:
            check_document(document, "the pushed document")
        except DocumentError as exc:
            return HTTPStatus.BAD_REQUEST, exc.message
        with self.write_lock:
            if stamp < self.last_timestamp:  # an older push arriving late
                return HTTPStatus.OK, "older than the document held; ignored"
            write_atomic(self.out, document)
            self.last_timestamp = stamp
        return HTTPStatus.OK, "stored"


class _Handler(BaseHTTPRequestHandler):
    server: ReceiveServer
    protocol_version = "HTTP/1.1"
    server_version = "publisher-receive"
    sys_version = ""
    timeout = 30

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._reply(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            return
        if int(length) > self.server.max_bytes:
            self._discard(int(length))
            self.close_connection = True
            self._reply(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"over {self.server.max_bytes:,} bytes"
            )
            return
        body = self.rfile.read(int(length))
        status, reason = self.server.accept(dict(self.headers.items()), body)
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
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, "POST the webhook here")

    def _reply(self, status: HTTPStatus, reason: str) -> None:
        body = json.dumps({"status": int(status), "message": reason}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)
