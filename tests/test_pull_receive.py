"""The servers' side: `pull` against `publisher serve`, `receive` against signed pushes."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import publisher
from publisher.delivery.sender import Sender
from publisher.delivery.signatures import sign
from publisher.servers.receive import ReceiveServer
from publisher.servers.serve import make_server
from publisher.settings import DEFAULT_CACHE_CONTROL
from tests.conftest import KEY_A, base_state, dump_state, run_cli

SECRET = "receive-secret"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A published directory served on 127.0.0.1; yields (directory, document URL)."""
    target = tmp_path / "public"
    publisher.publish(dump_state(tmp_path / "s.yaml", base_state()), target)
    server = make_server(target, "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield target, f"http://127.0.0.1:{server.server_port}/config/{KEY_A}"
    server.shutdown()
    server.server_close()


def test_pull_first_then_304_then_change(site: tuple[Path, str], tmp_path: Path) -> None:
    """First fetch writes FILE; the next is a 304 that leaves it alone; a change is fetched."""
    target, url = site
    out = tmp_path / "overrides.json"
    first = run_cli("pull", url, "--out", out)
    assert first.exit_code == 0, first.stderr
    assert out.read_bytes() == (target / "config" / KEY_A).read_bytes()
    os.utime(out, (1_000_000, 1_000_000))
    second = run_cli("pull", url, "--out", out)
    assert second.exit_code == 0 and "not modified" in second.stdout
    assert out.stat().st_mtime == 1_000_000
    state = base_state()
    state["organizations"][0]["experiments"][0]["status"] = "draft"
    publisher.publish(dump_state(tmp_path / "s.yaml", state), target)
    third = run_cli("pull", url, "--out", out)
    assert third.exit_code == 0 and "updated" in third.stdout
    assert out.read_bytes() == (target / "config" / KEY_A).read_bytes()
    assert KEY_A not in first.stdout + second.stdout + third.stdout


def test_pull_server_down_keeps_last_good(site: tuple[Path, str], tmp_path: Path) -> None:
    """Unreachable: exit 4, one line, FILE kept."""
    _, url = site
    out = tmp_path / "overrides.json"
    assert run_cli("pull", url, "--out", out).exit_code == 0
    good = out.read_bytes()
    down = run_cli("pull", f"http://127.0.0.1:9/config/{KEY_A}", "--out", out, "--timeout", "2")
    assert down.exit_code == 4
    assert down.stderr.startswith("error: cannot reach http://127.0.0.1:9")
    assert KEY_A not in down.stderr
    assert out.read_bytes() == good


def test_pull_invalid_body_keeps_last_good(site: tuple[Path, str], tmp_path: Path) -> None:
    """A body that is not JSON, or not a valid document: exit 3, FILE kept."""
    target, url = site
    out = tmp_path / "overrides.json"
    assert run_cli("pull", url, "--out", out).exit_code == 0
    good = out.read_bytes()
    for bad in (b"<html>oops</html>", b'{"status":200,"overrides":{"x":{"status":"paused"}}}'):
        (target / "config" / KEY_A).write_bytes(bad)
        result = run_cli("pull", url, "--out", out)
        assert result.exit_code == 3, result.stderr
        assert out.read_bytes() == good


def test_pull_max_stale(site: tuple[Path, str], tmp_path: Path) -> None:
    """--max-stale tolerates a failure while the last good copy is recent, and fails once it is old."""
    _, url = site
    out = tmp_path / "overrides.json"
    assert run_cli("pull", url, "--out", out).exit_code == 0
    down = f"http://127.0.0.1:9/config/{KEY_A}"
    fresh = run_cli("pull", down, "--out", out, "--max-stale", "3600", "--timeout", "2")
    assert fresh.exit_code == 0 and fresh.stderr.startswith("warning: cannot reach")
    meta = out.with_name(out.name + ".pull.json")
    record = json.loads(meta.read_text())
    meta.write_text(json.dumps({**record, "checked_at": time.time() - 7200}))
    stale = run_cli("pull", down, "--out", out, "--max-stale", "3600", "--timeout", "2")
    assert stale.exit_code == 4
    assert "over --max-stale 3600" in stale.stderr


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    out = tmp_path / "pushed.json"
    server = ReceiveServer("127.0.0.1", 0, SECRET, out, max_bytes=64 * 1024)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", out
    server.shutdown()
    server.server_close()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def push_body(overrides: str = '{"e":{"status":"draft"}}', stamp: int | None = None) -> bytes:
    return f'{{"timestamp":{int(time.time()) if stamp is None else stamp},"overrides":{overrides}}}'.encode()


@pytest.mark.parametrize("scheme", ["growthbook", "standard"])
def test_receive_valid_push(inbox: tuple[str, Path], scheme: str) -> None:
    """A push signed either way is stored as the canonical document."""
    url, out = inbox
    body = push_body()
    headers = sign(SECRET, body).headers
    if scheme == "growthbook":
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            del headers[name]
    else:
        del headers["X-GrowthBook-Signature"]
    assert post(url, body, headers) == 200
    assert out.read_bytes() == b'{"status":200,"overrides":{"e":{"status":"draft"}}}'


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("tampered", 401),
        ("old", 401),
        ("wrong-secret", 401),
        ("invalid", 400),
        ("not-json", 400),
        ("oversized", 413),
    ],
)
def test_receive_rejects(inbox: tuple[str, Path], case: str, status: int) -> None:
    """Tampered, replayed, wrongly signed, invalid or oversized pushes: FILE untouched."""
    url, out = inbox
    out.write_bytes(b"previous")
    body = push_body()
    headers = sign(SECRET, body).headers
    if case == "tampered":
        body = body.replace(b"draft", b"running")
    elif case == "old":
        body = push_body(stamp=int(time.time()) - 3600)
        headers = sign(SECRET, body, now=time.time() - 3600).headers
    elif case == "wrong-secret":
        headers = sign("nope", body).headers
    elif case == "invalid":
        body = push_body('{"e":{"status":"paused"}}')
        headers = sign(SECRET, body).headers
    elif case == "not-json":
        body = b"not json"
        headers = sign(SECRET, body).headers
    elif case == "oversized":
        body = push_body('{"e":{"status":"draft","url":"' + "x" * 100_000 + '"}}')
        headers = sign(SECRET, body).headers
    assert post(url, body, headers) == status
    assert out.read_bytes() == b"previous"


def test_end_to_end_push_equals_pull(tmp_path: Path) -> None:
    """publish → receive writes FILE → the very bytes `pull` fetches from `serve`."""
    out = tmp_path / "pushed.json"
    inbox = ReceiveServer("127.0.0.1", 0, SECRET, out)
    threading.Thread(target=inbox.serve_forever, args=(0.05,), daemon=True).start()
    state = base_state()
    state["organizations"][0]["webhooks"] = [
        {"url": f"http://127.0.0.1:{inbox.server_port}/", "secret_env": "HOOK"}
    ]
    target = tmp_path / "public"
    try:
        publisher.publish(
            dump_state(tmp_path / "s.yaml", state),
            target,
            publisher.PublishOptions(environ={"HOOK": SECRET}),
            sender=Sender(),
        )
    finally:
        inbox.shutdown()
        inbox.server_close()
    server = make_server(target, "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        pulled = tmp_path / "pulled.json"
        assert (
            run_cli(
                "pull", f"http://127.0.0.1:{server.server_port}/config/{KEY_A}", "--out", pulled
            ).exit_code
            == 0
        )
    finally:
        server.shutdown()
        server.server_close()
    assert out.read_bytes() == pulled.read_bytes() == (target / "config" / KEY_A).read_bytes()


def test_receive_command(tmp_path: Path) -> None:
    """`publisher receive` runs as a server process; a missing secret variable is a usage error."""
    import subprocess
    import sys

    out = tmp_path / "pushed.json"
    missing = run_cli("receive", "--out", out, "--secret-env", "NOT_SET_ANYWHERE", "--port", "0")
    assert missing.exit_code == 2 and "NOT_SET_ANYWHERE" in missing.stderr
    env = {**os.environ, "RECV_SECRET": SECRET}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "publisher",
            "receive",
            "--out",
            str(out),
            "--secret-env",
            "RECV_SECRET",
            "--port",
            "0",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        body = push_body()
        assert post(f"http://127.0.0.1:{port}/hook", body, sign(SECRET, body).headers) == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert out.read_bytes() == b'{"status":200,"overrides":{"e":{"status":"draft"}}}'


def test_library_api(site: tuple[Path, str]) -> None:
    """fetch_overrides does the conditional GET; verify_webhook checks a signature."""
    target, url = site
    first = publisher.fetch_overrides(url)
    assert first.status == 200 and first.document is not None
    assert first.body == (target / "config" / KEY_A).read_bytes()
    assert publisher.fetch_overrides(url, etag=first.etag).status == 304
    body = push_body()
    headers = sign(SECRET, body).headers
    assert publisher.verify_webhook(headers, body, SECRET) == "standard-webhooks"
    with pytest.raises(publisher.SignatureError):
        publisher.verify_webhook(headers, body + b" ", SECRET)
