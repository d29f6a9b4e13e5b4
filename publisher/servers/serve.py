"""`publisher serve` (SPEC §7): GET|HEAD /config/<key> from a directory target."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from ..documents.render import CONTENT_TYPE
from ..files import TooLarge, read_regular
from ..redact import KEY_NAME, key_label
from ..settings import DEFAULT_CACHE_CONTROL, DOCUMENT_READ_CAP
from .http import BoundedServer, SafeHandler

log = logging.getLogger(__name__)

INVALID_KEY = b'{"status":400,"error":"Invalid API key"}'
NOT_FOUND = b'{"status":404,"error":"Not found"}'
UNAVAILABLE = b'{"status":500,"error":"Document unavailable"}'


class _Unavailable(Exception):
    """A document that is there but cannot be served."""


_CONFIG = re.compile(r"/config/(?P<key>.*)")


class ConfigServer(BoundedServer):
    """A threaded HTTP server for one published directory."""

    def __init__(self, root: Path, host: str, port: int, cache_control: str) -> None:
        self.root = root.resolve()
        self.config_dir = self.root / "config"
        self.cache_control = cache_control
        super().__init__((host, port), _Handler)


class _Handler(SafeHandler):
    server: ConfigServer
    server_version = "publisher"

    def do_GET(self) -> None:
        self.drop_body()
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self.drop_body()
        self._answer(head=True)

    def do_OPTIONS(self) -> None:
        self.drop_body()
        self.send_response(HTTPStatus.NO_CONTENT)
        self._cors()
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "If-None-Match")
        self.send_header("Access-Control-Max-Age", "86400")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _method_not_allowed(self) -> None:
        self.drop_body()
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED,
            b'{"status":405,"error":"Method not allowed"}',
            head=False,
            extra={"Allow": "GET, HEAD, OPTIONS"},
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = _method_not_allowed

    def _answer(self, head: bool) -> None:
        try:
            path = urlsplit(self.path).path
        except ValueError:  # `http://[...` as a request target
            path = ""
        match = _CONFIG.fullmatch(path)
        if match is None:
            self._send(HTTPStatus.NOT_FOUND, NOT_FOUND, head)
            return
        key = match["key"]
        try:
            body = self._document(key) if KEY_NAME.fullmatch(key) else None
        except _Unavailable:
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, UNAVAILABLE, head)
            return
        if body is None:
            self._send(HTTPStatus.BAD_REQUEST, INVALID_KEY, head)
            return
        etag = '"' + hashlib.sha256(body).hexdigest() + '"'
        headers = {"ETag": etag, "Cache-Control": self.server.cache_control}
        if _etag_matches(self.headers.get("If-None-Match"), etag):
            self._send(HTTPStatus.NOT_MODIFIED, b"", head=True, extra=headers)
            return
        self._send(HTTPStatus.OK, body, head, extra=headers)

    def _document(self, key: str) -> bytes | None:
        """The document of `key`; None for none (400); _Unavailable for one that is there
        but cannot be served: not a regular file, over 64 MiB (found by its size, not
        read), or unreadable (500: the server's fault, not the client's key)."""
        path = self.server.config_dir / key
        try:
            if path.resolve().parent != self.server.config_dir or path.is_symlink():
                return None
            body = read_regular(path, DOCUMENT_READ_CAP)  # no FIFO or device
        except TooLarge:
            log.warning("the document of %s is over 64 MiB: not served", key_label(key))
            raise _Unavailable from None
        except OSError as exc:
            log.warning("cannot read the document of %s: %s", key_label(key), exc.strerror)
            raise _Unavailable from None
        if body is None and os.path.lexists(path):
            log.warning("the document of %s is not a regular file: not served", key_label(key))
            raise _Unavailable
        return body

    def _send(
        self, status: HTTPStatus, body: bytes, head: bool, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self._cors()
        if status != HTTPStatus.NOT_MODIFIED:
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if status != HTTPStatus.OK and status != HTTPStatus.NOT_MODIFIED:
            self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    if header.strip() == "*":
        return True
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return etag in candidates


def make_server(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 3100,
    cache_control: str = DEFAULT_CACHE_CONTROL,
) -> ConfigServer:
    """Return a bound server for `root` (call serve_forever, then server_close)."""
    return ConfigServer(root, host, port, cache_control)
