"""`serve`'s places: a connection waiting for its next request (a cache's idle
keep-alive, or one that has sent nothing) gives its place to a newcomer; connections busy
with a request keep theirs, and one client still cannot take them all."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.servers.serve import make_server
from publisher.settings import DEFAULT_CACHE_CONTROL
from tests.conftest import KEY_A, run_cli

BODY = b'{"status":200,"overrides":{}}'


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    root = tmp_path / "public"
    (root / "config").mkdir(parents=True)
    (root / "config" / KEY_A).write_bytes(BODY)
    served = make_server(root, "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    served.set_limits(max_connections=4, deadline=20.0, per_client=2)
    threading.Thread(target=served.serve_forever, args=(0.05,), daemon=True).start()
    yield served
    served.shutdown()
    served.server_close()


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))


def get(sock: socket.socket, close: bool = False) -> bytes:
    """One GET on `sock`, kept alive unless `close`; the whole answer (headers and body)."""
    extra = "Connection: close\r\n" if close else ""
    sock.sendall(f"GET /config/{KEY_A} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    answer = b""
    while not answer.endswith(BODY) and b"503" not in answer[:20]:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed `sock` (an open one has nothing to say: the wait ends)."""
    sock.settimeout(1)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_an_idle_keep_alive_gives_its_place_to_the_same_client(server: Any) -> None:
    """A cache holds its share of kept-alive connections, idle between requests: its next
    connection is served, and one idle connection is closed to make room."""
    port = server.server_port
    kept = [connect(port) for _ in range(2)]
    try:
        for sock in kept:
            assert get(sock).startswith(b"HTTP/1.1 200")
        with connect(port) as third:
            assert get(third, close=True).startswith(b"HTTP/1.1 200")
        assert sum(closed_by_server(sock) for sock in kept) == 1
    finally:
        for sock in kept:
            sock.close()


def test_idle_connections_of_others_give_their_places_up(server: Any) -> None:
    """Every place held by idle connections (two clients' keep-alives, and silent ones):
    a third client is served."""
    port = server.server_port
    held = [connect(port, "127.0.0.2") for _ in range(2)]
    held += [connect(port, "127.0.0.3") for _ in range(2)]
    try:
        for sock in held[:2]:
            assert get(sock).startswith(b"HTTP/1.1 200")
        time.sleep(0.2)  # the two silent ones are in
        with connect(port, "127.0.0.4") as newcomer:
            assert get(newcomer, close=True).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()


def test_busy_connections_keep_their_places(server: Any) -> None:
    """Two slow requests of one client (a request line begun, never ended): a third
    connection of that client gets 503; the slow ones are not closed for it."""
    port = server.server_port
    slow = [connect(port) for _ in range(2)]
    try:
        for sock in slow:
            sock.sendall(b"GET /config/")
        time.sleep(0.2)
        with connect(port) as third:
            assert get(third).startswith(b"HTTP/1.1 503")
        for sock in slow:
            sock.sendall(f"{KEY_A} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(BODY)
    finally:
        for sock in slow:
            sock.close()


def test_serve_takes_its_limits_from_the_command_line(tmp_path: Path) -> None:
    """--max-per-client over --max-connections is refused before anything listens; the
    limits given reach the server (checked through the refusal and --help)."""
    (tmp_path / "config").mkdir()
    refused = run_cli(
        "serve", tmp_path, "--port", "0", "--max-connections", "8", "--max-per-client", "9"
    )
    assert refused.exit_code == 2
    assert "--max-per-client 9 is over --max-connections 8" in refused.stderr
    shown = run_cli("serve", "--help")
    assert "--max-per-client" in shown.stdout and "idle keep-alive" in shown.stdout
