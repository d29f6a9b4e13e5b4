"""The nginx block `publisher edge-config nginx` prints, run in Debian's nginx in front of
`publisher serve`: a cached hit, the origin's 400 for an unknown key passed through,
CORS, and _publisher/ never served. Bad options are refused before anything is printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from publisher.servers.edge_config import EdgeOptions, render_edge_config
from publisher.servers.serve import make_server
from tests.conftest import KEY_A, run_cli

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def edge(tmp_path: Path, state_file: Path) -> Iterator[str]:
    """nginx with the generated block, in front of `publisher serve` of a published dir."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does)")
    public = tmp_path / "public"
    assert run_cli("publish", state_file, "--target", public).exit_code == 0
    origin = make_server(public, port=0)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    try:
        with nginx_in_front(f"http://127.0.0.1:{origin.server_address[1]}") as url:
            yield url
    finally:
        origin.shutdown()
        origin.server_close()


@contextmanager
def nginx_in_front(origin: str) -> Iterator[str]:
    """nginx running the block `edge-config nginx` generates for `origin`; its URL."""
    assert NGINX is not None
    work = Path(tempfile.mkdtemp(prefix="publisher-nginx-"))
    work.chmod(0o777)  # nginx's workers run as another user: they write the cache here
    port = free_port()
    block = render_edge_config(
        "nginx", EdgeOptions(origin, listen_port=port, cache_path=str(work / "cache"))
    )
    (work / "publisher.conf").write_text(block)
    (work / "nginx.conf").write_text(
        f"daemon off;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
        "events {}\nhttp {\n"
        f"  access_log off;\n  client_body_temp_path {work}/body;\n"
        f"  proxy_temp_path {work}/proxy;\n"
        f"  include {work}/publisher.conf;\n}}\n"
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(work), "-c", str(work / "nginx.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=2)
            except urllib.error.HTTPError:
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = proc.stdout.read().decode() if proc.stdout else ""
                    log = (work / "error.log").read_text() if (work / "error.log").exists() else ""
                    pytest.fail(f"nginx did not start: {output} {log}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return (
                response.status,
                response.read(),
                {k.lower(): v for k, v in response.getheaders()},
            )
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), {k.lower(): v for k, v in exc.headers.items()}


def test_nginx_caches_documents_and_serves_nothing_else(edge: str, tmp_path: Path) -> None:
    status, first, headers = get(f"{edge}/config/{KEY_A}")
    assert status == 200 and first.startswith(b'{"status":200,"overrides":')
    assert headers["access-control-allow-origin"] == "*"
    assert headers["x-cache-status"] == "MISS"
    status, again, headers = get(f"{edge}/config/{KEY_A}")
    assert (status, again, headers["x-cache-status"]) == (200, first, "HIT")

    status, body, _ = get(f"{edge}/config/key_nobody_has_this_one_000")
    assert status == 400 and body == b'{"status":400,"error":"Invalid API key"}'
    for path in ("/_publisher/manifest.json", "/_publisher/", "/", "/public/config"):
        status, body, _ = get(edge + path)
        assert status == 404, path
        assert b"generation" not in body


def test_nginx_asks_the_origin_without_the_query_string() -> None:
    """The cache keys a document by its path alone, so the origin is asked for that path
    alone: a query (an S3 versionId, a cache buster) that reached the origin could fill
    the cache with another copy (an old version) served to everyone after."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does)")
    asked: list[str] = []

    class Origin(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = self.path.encode()
            self.send_response(200)
            self.send_header("Cache-Control", "max-age=60")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    origin = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    try:
        with nginx_in_front(f"http://127.0.0.1:{origin.server_address[1]}/b/site") as edge:
            first = get(f"{edge}/config/{KEY_A}?versionId=an-old-one&x=1")
            second = get(f"{edge}/config/{KEY_A}")
    finally:
        origin.shutdown()
        origin.server_close()
    assert asked == [f"/b/site/config/{KEY_A}"]
    assert first[1] == second[1] == f"/b/site/config/{KEY_A}".encode()
    assert second[2]["x-cache-status"] == "HIT"


@pytest.mark.parametrize(
    ("kind", "origin", "extra", "message"),
    [
        ("varnish", "https://cdn.example:443/b", (), "Varnish speaks plain HTTP"),
        ("nginx", "http://127.0.0.1:9/b;evil", (), "the path may hold only"),
        ("nginx", "http://a b/", (), "--origin"),
        ("nginx", "http://user:pw@127.0.0.1:9/", (), "no user, password"),
        ("varnish", "http://127.0.0.1:9/", ("--purge-acl", '1.2.3.4"; }'), "--purge-acl"),
        ("nginx", "http://127.0.0.1:9/", ("--cache-size", "1g; evil"), "--cache-size"),
        ("haproxy", "http://127.0.0.1:9/", (), "one of varnish, nginx"),
    ],
)
def test_bad_options_are_refused(
    kind: str, origin: str, extra: tuple[str, ...], message: str
) -> None:
    result = run_cli("edge-config", kind, "--origin", origin, *extra)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr and result.stdout == ""
    assert "pw" not in result.stderr
