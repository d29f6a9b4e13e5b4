"""A real HTTP receiver on 127.0.0.1 that records pushes and answers as told."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Push:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next status of `script` (then 200), recording it."""

    script: list[int] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)
    redirect_to: str | None = None
    url: str = ""

    def answer(self) -> int:
        return self.script.pop(0) if self.script else 200


@contextmanager
def receiver(script: list[int] | None = None, redirect_to: str | None = None) -> Iterator[Receiver]:
    state = Receiver(list(script or []), redirect_to=redirect_to)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.pushes.append(Push(self.path, dict(self.headers.items()), body))
            if state.redirect_to:
                self.send_response(307)
                self.send_header("Location", state.redirect_to)
            else:
                self.send_response(state.answer())
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
