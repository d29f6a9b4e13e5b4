"""`publisher verify`: drift at the target and at the edge named by label; exit 0/1/3/4."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from publisher.redact import key_label
from publisher.servers.serve import make_server
from tests.conftest import KEY_A, KEY_G, base_state, dump_state, run_cli
from tests.s3util import CREDENTIALS, moto_server, s3_client


@contextmanager
def serving(root: Path) -> Iterator[str]:
    """`publisher serve` of `root` on 127.0.0.1: an edge that serves what it holds."""
    server = make_server(root, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def set_coverage(path: Path, coverage: float) -> Path:
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = coverage
    return dump_state(path, state)


def test_a_published_directory_verifies(tmp_path: Path, state_file: Path) -> None:
    target = tmp_path / "public"
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    result = run_cli("verify", state_file, "--target", target)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("All 3 documents match the state at")


def test_missing_different_and_extra_documents_are_named_by_label(
    tmp_path: Path, state_file: Path
) -> None:
    target = tmp_path / "public"
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    (target / "config" / KEY_A).unlink()
    (target / "config" / KEY_G).write_bytes(b"{}")
    (target / "config" / "key_left_behind_by_someone").write_bytes(b"{}")
    result = run_cli("verify", state_file, "--target", target)
    assert result.exit_code == 1
    assert "Drift: 3 documents (1 different, 1 extra, 1 missing) of 3 checked" in result.stdout
    lines = result.stdout.splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == ["different", "extra", "missing"]
    for key in (KEY_A, KEY_G, "key_left_behind_by_someone"):
        assert key not in result.stdout + result.stderr
    as_json = json.loads(run_cli("verify", state_file, "--target", target, "--json").stdout)
    assert as_json["ok"] is False
    assert sorted((d["kind"], d["organization"]) for d in as_json["drift"]) == [
        ("different", "globex"),
        ("extra", None),
        ("missing", "acme"),
    ]


def test_an_invalid_state_exits_3_and_an_unreachable_edge_4(
    tmp_path: Path, state_file: Path
) -> None:
    target = tmp_path / "public"
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\norganizations: [{id: x, api_keys: 3}]\n")
    assert run_cli("verify", bad, "--target", target).exit_code == 3
    unreachable = run_cli("verify", state_file, "--target", target, "--edge", "http://127.0.0.1:9")
    assert unreachable.exit_code == 4
    assert "edge http://127.0.0.1:9" in unreachable.stderr
    assert KEY_A not in unreachable.stderr


def test_an_edge_serving_old_bytes_is_stale_until_it_serves_the_new(tmp_path: Path) -> None:
    state = set_coverage(tmp_path / "s.yaml", 0.1)
    target = tmp_path / "public"
    assert run_cli("publish", state, "--target", target).exit_code == 0
    old = tmp_path / "edge-copy"
    shutil.copytree(target, old)  # what a cache holds
    set_coverage(state, 0.2)
    assert run_cli("publish", state, "--target", target).exit_code == 0
    with serving(old) as edge:
        stale = run_cli("verify", state, "--target", target, "--edge", edge, "--json")
    assert stale.exit_code == 1, stale.stderr
    report = json.loads(stale.stdout)
    assert report["edges"] == {edge: 3}
    stale_keys = [(d["kind"], d["key"], d["where"]) for d in report["drift"]]
    assert stale_keys == [("stale at the edge", key_label(KEY_A), edge)]  # only it changed
    with serving(target) as edge:
        fresh = run_cli("verify", state, "--target", target, "--edge", edge, "--sample", "2")
    assert fresh.exit_code == 0, fresh.stdout
    assert f"and {edge} (2 fetched)" in fresh.stdout


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with moto_server() as endpoint:
        client: Any = s3_client(endpoint)
        client.create_bucket(Bucket="verified")
        yield endpoint, client


def test_drift_in_a_bucket(bucket: tuple[str, Any], state_file: Path) -> None:
    endpoint, client = bucket
    args = ("--target", "s3://verified/site", "--endpoint-url", endpoint)
    assert run_cli("publish", state_file, *args).exit_code == 0
    assert run_cli("verify", state_file, *args).exit_code == 0
    client.put_object(Bucket="verified", Key=f"site/config/{KEY_G}", Body=b"{}")
    client.delete_object(Bucket="verified", Key=f"site/config/{KEY_A}")
    result = run_cli("verify", state_file, *args, "--json")
    assert result.exit_code == 1
    drift = {(d["kind"], d["where"]) for d in json.loads(result.stdout)["drift"]}
    assert drift == {("missing", "s3://verified/site"), ("different", "s3://verified/site")}


def test_edge_urls_are_checked_before_anything_is_written(tmp_path: Path, state_file: Path) -> None:
    target = tmp_path / "public"
    for bad in ("", "127.0.0.1:3999", "ftp://127.0.0.1/", "file:///etc/passwd", "http://[::1"):
        published = run_cli("publish", state_file, "--target", target, "--wait-edge", bad)
        assert published.exit_code == 2, (bad, published.stderr)
        assert "--wait-edge" in published.stderr and not target.exists()
        verified = run_cli("verify", state_file, "--target", target, "--edge", bad)
        assert verified.exit_code == 2, (bad, verified.stderr)
    sampled = run_cli("verify", state_file, "--target", target, "--sample", "5")
    assert sampled.exit_code == 2 and "--sample N applies to --edge" in sampled.stderr


def test_an_unreachable_edge_is_waited_for_then_said_without_secrets(
    tmp_path: Path, state_file: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    edge = f"http://user:hunter2@127.0.0.1:{dead}/?token=SECRETQ"
    result = run_cli(
        "publish", state_file, "--target", tmp_path / "public", "--wait-edge", edge,
        "--wait-timeout", "1",
    )  # fmt: skip
    assert result.exit_code == 4
    assert result.stdout.startswith("Published 3 documents")
    assert "the documents are published, but 3 documents still served old bytes" in result.stderr
    assert "Connection refused" in result.stderr
    shown = result.stdout + result.stderr
    assert "hunter2" not in shown and "SECRETQ" not in shown and "user" not in shown


def test_an_edge_that_refuses_is_no_stale_copy(tmp_path: Path) -> None:
    """An edge answering 403 (a bucket policy, a WAF) or 503 serves no old bytes: drift
    says an error at the edge with its status, not "stale"."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers = iter([403, 503] * 10)

    class Refusing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(next(answers))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state = dump_state(tmp_path / "s.yaml", base_state())
    target = tmp_path / "public"
    assert run_cli("publish", state, "--target", target).exit_code == 0
    try:
        edge = f"http://127.0.0.1:{server.server_port}"
        checked = run_cli("verify", state, "--target", target, "--edge", edge, "--json")
    finally:
        server.shutdown()
        server.server_close()
    assert checked.exit_code == 1, checked.stderr
    kinds = {d["kind"] for d in json.loads(checked.stdout)["drift"]}
    assert kinds <= {"an error at the edge (HTTP 403)", "an error at the edge (HTTP 503)"}
    assert kinds and "stale at the edge" not in checked.stdout
