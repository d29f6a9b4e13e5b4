"""`publisher serve` over a real socket on 127.0.0.1 (SPEC §7)."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import publisher
from publisher.servers.serve import make_server
from publisher.settings import DEFAULT_CACHE_CONTROL
from tests.conftest import KEY_A, KEY_G, base_state, dump_state


@pytest.fixture
def site(tmp_path: Path) -> Path:
    target = tmp_path / "public"
    publisher.publish(dump_state(tmp_path / "s.yaml", base_state()), target)
    (tmp_path / "secret.txt").write_text("outside")
    return target


@pytest.fixture
def port(site: Path) -> Iterator[int]:
    server = make_server(site, "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    response.read()  # keep the body on the response object
    return response


def get(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_get_document(site: Path, port: int) -> None:
    """GET /config/<key> → 200, the exact bytes, JSON content type, cache headers, strong ETag, CORS."""
    status, headers, body = get(port, f"/config/{KEY_A}")
    assert status == 200
    assert body == (site / "config" / KEY_A).read_bytes()
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["cache-control"] == DEFAULT_CACHE_CONTROL
    assert headers["etag"] == '"' + hashlib.sha256(body).hexdigest() + '"'
    assert headers["access-control-allow-origin"] == "*"
    assert headers["content-length"] == str(len(body))


def test_conditional_get_304(port: int) -> None:
    """A matching If-None-Match (strong, weak, or in a list) gives 304 with no body."""
    _, headers, _ = get(port, f"/config/{KEY_A}")
    etag = headers["etag"]
    for value in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        status, h304, body = get(port, f"/config/{KEY_A}", {"If-None-Match": value})
        assert (status, body) == (304, b"")
        assert h304["etag"] == etag
        assert h304["access-control-allow-origin"] == "*"
    status, _, _ = get(port, f"/config/{KEY_A}", {"If-None-Match": '"other"'})
    assert status == 200


def test_head(site: Path, port: int) -> None:
    """HEAD gives GET's status and headers without a body."""
    response = request(port, "HEAD", f"/config/{KEY_G}")
    assert response.status == 200
    assert response.getheader("Content-Length") == str(len((site / "config" / KEY_G).read_bytes()))
    assert response.getheader("ETag")


@pytest.mark.parametrize(
    "path",
    [
        "/config/key_unknown_00000000",
        "/config/short",
        "/config/",
        "/config/a%2F..%2F..%2Fsecret.txt",
        "/config/key with space",
    ],
)
def test_unknown_or_malformed_key_is_400(port: int, path: str) -> None:
    """Unknown and malformed keys get 400 with the JSON error body and CORS."""
    status, headers, body = get(port, path.replace(" ", "%20"))
    assert status == 400
    assert json.loads(body) == {"status": 400, "error": "Invalid API key"}
    assert headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/config",
        "/_publisher/manifest.json",
        "/_publisher/lock",
        "/public/config/x",
        "/secret.txt",
    ],
)
def test_anything_else_is_404(port: int, path: str) -> None:
    """Paths outside /config/<key> are 404: bookkeeping is never served."""
    status, _, body = get(port, path)
    assert status == 404
    assert b"documents" not in body


def test_traversal_is_not_served(port: int) -> None:
    """Raw `..` segments cannot escape config/."""
    for path in (
        "/config/../secret.txt",
        "/config/../../secret.txt",
        "/config/..%2fsecret.txt",
        "/../secret.txt",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert b"outside" not in data
        assert data.split(b"\r\n", 1)[0] in (b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 404 Not Found")


def test_symlink_out_of_config_is_not_served(site: Path, port: int) -> None:
    """A symlink placed in config/ is not followed."""
    (site / "config" / "key_symlink_000000").symlink_to(site.parent / "secret.txt")
    status, _, body = get(port, "/config/key_symlink_000000")
    assert status == 400
    assert b"outside" not in body


def test_other_methods_not_allowed(port: int) -> None:
    """POST and friends get 405 with an Allow header."""
    response = request(port, "POST", f"/config/{KEY_A}")
    assert response.status == 405
    assert response.getheader("Allow") == "GET, HEAD, OPTIONS"


def test_access_log_redacts_keys(site: Path, tmp_path: Path) -> None:
    """The CLI server logs requests without the raw key, and serves concurrently."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "publisher", "--verbose", "serve", str(site), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        served_port = int(line.split("127.0.0.1:")[1].split("/")[0])
        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(get(served_port, f"/config/{KEY_A}")[0]))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [200] * 8
        time.sleep(0.2)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "/config/key_acme…0001" in err
    assert KEY_A not in err
