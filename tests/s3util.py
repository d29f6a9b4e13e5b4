"""Real servers for S3 tests: moto's HTTP server and a counting, fault-injecting proxy."""

from __future__ import annotations

import functools
import http.client
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log

_WRITES = threading.Lock()


def _one_step(write: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(write)
    def atomic(self: Any) -> Any:
        with _WRITES:
            return write(self)

    return atomic


# moto checks a write's If-Match or If-None-Match, then writes, with nothing between to
# stop another request: two conditional PUTs of the lock at once can both pass (the S3
# lock race saw two winners, 1 round in 300 on a loaded machine). S3 makes each write
# one step, so a conditional write sees the object as it is. So does moto here, in every
# process that imports this module (moto's server runs in the test's process).
S3Response.put_object = _one_step(S3Response.put_object)
S3Response.delete_object = _one_step(S3Response.delete_object)

BUCKET = "publisher-test"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message></Error>"
)
SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
INTERNAL = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's S3 server on 127.0.0.1 and yield its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Faults:
    """Shares of requests to fail, and added latency; seeded so a run is repeatable."""

    slowdown: float = 0.0
    error500: float = 0.0
    drop_before: float = 0.0
    drop_after: float = 0.0
    latency: float = 0.0
    delay: float = 0.0
    """A fixed delay added to every request (a real store's round trip)."""
    only: str | None = None
    """Disturb only requests whose path contains this (None: all requests)."""
    deny_put: str | None = None
    """Answer 403 AccessDenied to every PUT whose path contains this (where moto allows)."""
    method: str | None = None
    """Disturb only requests of this method (None: any)."""
    seed: int = 7
    injected: dict[str, int] = field(default_factory=dict)
    injected_delays: int = 0
    """Requests held by `delay` or `latency` so far."""

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def pick(self, path: str, method: str | None = None) -> str | None:
        if self.only is not None and self.only not in path:
            return None
        if self.method is not None and method != self.method:
            return None
        with self._lock:
            roll = self._random.random()
            delay = self.delay + self._random.random() * self.latency
            self.injected_delays += delay > 0
        time.sleep(delay)
        for name in ("slowdown", "error500", "drop_before", "drop_after"):
            share = getattr(self, name)
            if roll < share:
                with self._lock:
                    self.injected[name] = self.injected.get(name, 0) + 1
                return name
            roll -= share
        return None


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 1024  # hundreds of uploads may connect at once

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # connections the faults drop on purpose end in errors: not news


class Proxy:
    """An HTTP proxy on 127.0.0.1 in front of an S3 endpoint that logs every request."""

    def __init__(self, upstream: str, faults: Faults | None = None) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.faults = faults or Faults()
        self.gate = threading.Event()
        self.gate.set()
        self.document_arrived = threading.Event()
        """Set when the first document request (a path under /config/) arrives, before
        the gate: a test that holds the documents waits on this, not on `requests`,
        which logs a request only once it is answered."""
        self.requests: list[tuple[str, str, int]] = []
        self.in_flight = self.most_in_flight = 0
        """Document PUTs being answered now, and the most at once."""
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                if "/config/" in self.path:
                    proxy.document_arrived.set()
                counted = self.command == "PUT" and "/config/" in self.path
                if counted:
                    with proxy._lock:
                        proxy.in_flight += 1
                        proxy.most_in_flight = max(proxy.most_in_flight, proxy.in_flight)
                try:
                    self._answer()
                finally:
                    if counted:
                        with proxy._lock:
                            proxy.in_flight -= 1

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if "/config/" in self.path:
                    proxy.gate.wait(timeout=60)  # tests hold document requests here
                deny = proxy.faults.deny_put
                if deny is not None and self.command == "PUT" and deny in self.path:
                    proxy._log(self.command, self.path, 403)
                    self.send_response(403)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(DENIED)))
                    self.end_headers()
                    self.wfile.write(DENIED)
                    return
                fault = proxy.faults.pick(self.path, self.command)
                if fault == "drop_before":
                    proxy._log(self.command, self.path, -1)
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault in ("slowdown", "error500"):
                    status = 503 if fault == "slowdown" else 500
                    payload = SLOWDOWN if fault == "slowdown" else INTERNAL
                    proxy._log(self.command, self.path, status)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":  # a HEAD answer has no body
                        self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                proxy._log(self.command, self.path, response.status)
                if fault == "drop_after":  # the store applied it; the client never hears
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in (
                        "connection",
                        "transfer-encoding",
                        "content-length",
                        "server",
                        "date",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def _log(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))

    def reset(self) -> list[tuple[str, str, int]]:
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def count(requests: list[tuple[str, str, int]], method: str, part: str = "") -> int:
    """How many requests of `method` whose path contains `part` the server answered."""
    return sum(1 for m, p, status in requests if m == method and part in p and status != -1)
