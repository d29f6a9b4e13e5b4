"""What `serve` and `receive` share: a server that hostile clients cannot exhaust or confuse.

- At most `max_connections` connections are served at once, and at most
  `per_client` from one client address; one more is answered 503 and closed at once,
  so slow clients cannot make threads without bound, and one client cannot take every
  connection from the others. A connection waiting for its next request (an idle
  keep-alive, or one that has sent nothing yet) gives its place up to a newcomer: a
  cache in front keeps its idle connections open, and they must not lock it out.
- Each connection has a total deadline, however slowly its bytes trickle in.
- A request body is read and dropped (small) or the connection is closed after the
  answer (large, or chunked): a body is never parsed as the next request.
- Log lines name no API key: every key-like part of a request line is a label.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from ..redact import key_label, printable

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 64
PER_CLIENT = 16
"""Connections one client address may hold at once (a quarter of the whole)."""
CONNECTION_DEADLINE = 30.0
"""Seconds a connection may live, whatever it does (idle keep-alive included)."""
READ_TIMEOUT = 10.0
MAX_DISCARD = 64 * 1024
_LENGTH = re.compile(r"[0-9]{1,12}")
_KEYLIKE = re.compile(r"[A-Za-z0-9_-]{8,}")

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: 42\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    b'{"status":503,"error":"Too many requests"}'
)


class _Connection:
    """One admitted connection: whose, its socket, whether it waits for a request, and
    whether a newcomer took its place (its counts went to the newcomer)."""

    __slots__ = ("client", "evicted", "idle", "sock")

    def __init__(self, client: str, sock: Any) -> None:
        self.client, self.sock = client, sock
        self.idle = self.evicted = False


class BoundedServer(ThreadingHTTPServer):
    """A threaded server with a cap on connections and a deadline for each."""

    daemon_threads = True
    request_queue_size = 128
    """Connections the kernel holds until they are accepted (socketserver's 5 made about one
    connect in seven wait a second for a retry while a few others were open)."""
    max_connections = MAX_CONNECTIONS
    per_client = PER_CLIENT
    deadline = CONNECTION_DEADLINE
    access_log: Callable[[str], None] | None = None
    """Called with one line per request (time, client, request, status, bytes, duration)."""

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        self._clients: dict[str, int] = {}
        self._open: dict[int, _Connection] = {}
        self._counting = threading.Lock()
        super().__init__(address, handler)

    def set_limits(
        self, *, max_connections: int, deadline: float, per_client: int | None = None
    ) -> None:
        """Change the limits (before serving): tests use small ones (`per_client`: as many
        as the whole, unless given)."""
        self.max_connections = max_connections
        self.per_client = per_client or max_connections
        self.deadline = deadline

    def _admit(self, connection: _Connection) -> bool:
        """Count a connection in, unless its client holds its share, or every place is
        taken, by connections that are all busy with a request (an idle one is closed and
        its place given to this one)."""
        with self._counting:
            if self._clients.get(connection.client, 0) >= self.per_client:
                if not self._evict_idle(connection.client):
                    return False
            elif len(self._open) >= self.max_connections and not self._evict_idle(None):
                return False
            self._clients[connection.client] = self._clients.get(connection.client, 0) + 1
            self._open[id(connection.sock)] = connection
            return True

    def _evict_idle(self, client: str | None) -> bool:
        """Close one connection (of `client`, or anyone's) that waits for a request, and
        count it out; False when there is none. The lock is held."""
        for victim in self._open.values():
            if victim.idle and (client is None or victim.client == client):
                self._count_out(victim)
                victim.evicted = True
                _shut(victim.sock)
                return True
        return False

    def _count_out(self, connection: _Connection) -> None:
        self._open.pop(id(connection.sock), None)
        held = self._clients.pop(connection.client, 1) - 1
        if held > 0:
            self._clients[connection.client] = held

    def _leave(self, connection: _Connection) -> None:
        with self._counting:
            if not connection.evicted:
                self._count_out(connection)

    def waiting(self, sock: Any, idle: bool) -> bool:
        """Mark the connection on `sock` as waiting for a request (or no longer); False
        when a newcomer has taken its place (the connection is closed)."""
        with self._counting:
            connection = self._open.get(id(sock))
            if connection is None or connection.evicted:
                return False
            connection.idle = idle
            return True

    def process_request(self, request: Any, client_address: Any) -> None:
        connection = _Connection(str(client_address[0]), request)
        if not self._admit(connection):
            _busy(self, request)
            return
        # Not on a Ctrl-C (a BaseException): it may land once the thread has started,
        # which counts the connection out itself.
        try:
            super().process_request(request, client_address)
        except Exception:  # the thread did not start: its place is free again
            self._leave(connection)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # Past the deadline the socket is shut down: a blocked read returns at once.
        timer = threading.Timer(self.deadline, _shut, (request,))
        timer.daemon = True
        timer.start()
        with self._counting:
            connection = self._open.get(id(request))
        try:
            super().process_request_thread(request, client_address)
        finally:
            timer.cancel()
            if connection is not None:
                self._leave(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is not news; anything else is one line, no traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        log.error("request from %s failed: %s", client_address[0], type(error).__name__)


def _busy(server: BoundedServer, request: Any) -> None:
    """Answer 503 and close, at once."""
    try:
        request.settimeout(1)
        request.sendall(_BUSY)
    except OSError:
        pass
    server.shutdown_request(request)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class SafeHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with bodies drained or the connection closed, and key-free logs."""

    protocol_version = "HTTP/1.1"
    sys_version = ""
    timeout = READ_TIMEOUT
    # A request line the parser refuses (`HTTP/9.9`, no version) is answered with a
    # status line too: under the default HTTP/0.9 the answer was a bare HTML body.
    default_request_version = "HTTP/1.0"
    error_content_type = "application/json"
    error_message_format = '{"status":%(code)d,"error":"%(message)s"}'

    server: BoundedServer

    def version_string(self) -> str:
        return self.server_version  # no trailing space from an empty sys_version

    def handle_one_request(self) -> None:
        if not self._next_request_begins():
            self.close_connection = True
            return
        self._started = time.monotonic()
        self._status: int | None = None
        self._bytes = 0
        self.requestline = ""
        super().handle_one_request()
        if self._status is not None and self.server.access_log is not None:
            self.server.access_log(self._access_line())

    def _next_request_begins(self) -> bool:
        """Wait for the first byte of a request, marked as idle meanwhile (a newcomer may
        take this connection's place); False when none comes, or the place was taken."""
        if not self.server.waiting(self.request, True):
            return False
        try:
            begun = bool(cast(io.BufferedReader, self.rfile).peek(1))  # read ahead counts
        except OSError:  # the read timeout, or a reset
            begun = False
        return self.server.waiting(self.request, False) and begun

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "content-length" and self.command != "HEAD":
            self._bytes = int(value)
        super().send_header(keyword, value)

    def _access_line(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        request = _KEYLIKE.sub(lambda m: key_label(m[0]), printable(self.requestline))
        took = (time.monotonic() - self._started) * 1000
        return (
            f'{stamp} {self.client_address[0]} "{request}" {self._status} {self._bytes} '
            f"{took:.1f}ms"
        )

    def body_length(self) -> int | None:
        """Return the request's Content-Length, or None when it is absent or malformed.

        A chunked or malformed body cannot be skipped safely: the connection is closed
        after the answer.
        """
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return None
        given = self.headers.get_all("Content-Length") or []
        if not given:
            return 0
        raw = given[0]
        if len(given) > 1 or not _LENGTH.fullmatch(raw.strip()):  # two lengths: which one?
            self.close_connection = True
            return None
        return int(raw.strip())

    def drop_body(self) -> None:
        """Read and drop a small body; close the connection after the answer otherwise."""
        length = self.body_length()
        if length is None or length == 0:
            return
        if length > MAX_DISCARD:
            self.close_connection = True
            return
        self.rfile.read(length)

    def log_message(self, format: str, *args: object) -> None:
        line = printable(format % args)
        log.info("%s %s", self.address_string(), _KEYLIKE.sub(lambda m: key_label(m[0]), line))
