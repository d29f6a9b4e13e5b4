"""End to end through a real edge cache: Varnish on 127.0.0.1 in front of moto's S3 server."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.redact import key_label
from publisher.servers.edge_config import EdgeOptions, render_edge_config
from tests.conftest import KEY_A, base_state, dump_state, run_cli
from tests.s3util import CREDENTIALS, moto_server, s3_client

VARNISHD = shutil.which("varnishd") or (
    "/usr/sbin/varnishd" if os.path.exists("/usr/sbin/varnishd") else None
)
pytestmark = pytest.mark.skipif(
    VARNISHD is None, reason="varnishd is not installed (apt-get install varnish; .ci/run does)"
)
BUCKET = "edge-bucket"
PUBLIC_READ = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/config/*",
            }
        ],
    }
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """Yield (S3 endpoint, Varnish edge URL) with the bucket created."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with moto_server() as endpoint:
        client: Any = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_policy(
            Bucket=BUCKET, Policy=PUBLIC_READ
        )  # the CDN origin reads anonymously
        moto_port = int(endpoint.rsplit(":", 1)[1])
        # varnishd drops privileges: its work folder must be reachable by its users.
        work = Path(tempfile.mkdtemp(prefix="publisher-varnish-"))
        work.chmod(0o755)
        # The configuration `publisher edge-config varnish` prints, as an operator would use it.
        vcl = render_edge_config("varnish", EdgeOptions(f"http://127.0.0.1:{moto_port}/{BUCKET}"))
        (work / "edge.vcl").write_text(vcl)
        edge_port = free_port()
        assert VARNISHD is not None
        proc = subprocess.Popen(
            [
                VARNISHD,
                "-F",
                "-a",
                f"127.0.0.1:{edge_port}",
                "-f",
                str(work / "edge.vcl"),
                "-n",
                str(work / "n"),
                "-s",
                "malloc,32m",
                "-p",
                "default_grace=0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            edge = f"http://127.0.0.1:{edge_port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(
                        urllib.request.Request(edge + "/", method="HEAD"), timeout=2
                    )
                    break
                except urllib.error.HTTPError:
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        output = proc.stdout.read().decode() if proc.stdout else ""
                        pytest.fail(f"varnishd did not start: {output}")
                    time.sleep(0.1)
            yield endpoint, edge
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            shutil.rmtree(work, ignore_errors=True)


def fetch(edge: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(f"{edge}/config/{KEY_A}", timeout=10) as response:
        return response.read(), {k.lower(): v for k, v in response.getheaders()}


def set_coverage(path: Path, coverage: float) -> Path:
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = coverage
    return dump_state(path, state)


def test_purge_makes_the_edge_serve_the_new_document(
    stack: tuple[str, str], tmp_path: Path
) -> None:
    """v1 cached at the edge; v2 without purge stays hidden; v3 with --cdn http-purge shows at once."""
    endpoint, edge = stack
    state = tmp_path / "s.yaml"
    args = ("--target", f"s3://{BUCKET}", "--endpoint-url", endpoint)

    assert run_cli("publish", set_coverage(state, 0.1), *args).exit_code == 0
    v1, headers = fetch(edge)
    assert b'"coverage":0.1' in v1
    assert headers["cache-control"].startswith("public, max-age=30")
    again, headers = fetch(edge)
    assert again == v1
    assert len(re.findall(r"\d+", headers["x-varnish"])) == 2  # a cache hit

    assert run_cli("publish", set_coverage(state, 0.2), *args).exit_code == 0
    client: Any = s3_client(endpoint)
    in_bucket = client.get_object(Bucket=BUCKET, Key=f"config/{KEY_A}")["Body"].read()
    assert b'"coverage":0.2' in in_bucket
    assert fetch(edge)[0] == v1  # the edge still serves its cached copy

    purged = run_cli(
        "publish", set_coverage(state, 0.3), *args, "--cdn", "http-purge", "--purge-url", edge
    )
    assert purged.exit_code == 0, purged.stderr
    assert "Purged 1 path from the CDN" in purged.stdout
    v3, _ = fetch(edge)
    assert b'"coverage":0.3' in v3
    assert v3 == client.get_object(Bucket=BUCKET, Key=f"config/{KEY_A}")["Body"].read()


def test_failed_purge_exits_4_and_retries_next_time(stack: tuple[str, str], tmp_path: Path) -> None:
    """An unreachable edge: the documents are live, exit 4 names the paths by label (never the
    key), and the next publish purges them."""
    endpoint, edge = stack
    state = tmp_path / "s.yaml"
    args = ("--target", f"s3://{BUCKET}", "--endpoint-url", endpoint, "--cdn", "http-purge")
    assert run_cli("publish", set_coverage(state, 0.1), *args, "--purge-url", edge).exit_code == 0
    assert b'"coverage":0.1' in fetch(edge)[0]
    dead = f"http://127.0.0.1:{free_port()}"
    failed = run_cli("publish", set_coverage(state, 0.4), *args, "--purge-url", dead)
    assert failed.exit_code == 4
    assert "the documents are published, but the CDN purge of 1 path failed" in failed.stderr
    assert "the next publish retries it" in failed.stderr
    assert f"/…/config/{key_label(KEY_A)}" in failed.stderr
    assert KEY_A not in failed.stderr + failed.stdout
    as_json = run_cli(
        "publish", state, *args, "--purge-url", dead, "--json"
    )  # retried, fails again
    assert as_json.exit_code == 4 and KEY_A not in as_json.stdout + as_json.stderr
    assert b'"coverage":0.1' in fetch(edge)[0]  # still stale at the edge
    retried = run_cli("publish", state, *args, "--purge-url", edge)
    assert retried.exit_code == 0, retried.stderr
    assert "Nothing to upload" in retried.stdout
    assert "Purged 1 path" in retried.stdout
    assert b'"coverage":0.4' in fetch(edge)[0]


def test_verify_and_wait_edge_through_varnish(stack: tuple[str, str], tmp_path: Path) -> None:
    """verify sees the edge stale before a purge and fresh after; --wait-edge reports the
    time to edge, and exits 4 (documents published) when the edge stays stale."""
    endpoint, edge = stack
    state = tmp_path / "s.yaml"
    args = ("--target", f"s3://{BUCKET}", "--endpoint-url", endpoint)
    assert run_cli("publish", set_coverage(state, 0.1), *args).exit_code == 0
    fetch(edge)  # cached at the edge
    assert run_cli("verify", state, *args, "--edge", edge).exit_code == 0

    assert run_cli("publish", set_coverage(state, 0.2), *args).exit_code == 0  # no purge
    stale = run_cli("verify", state, *args, "--edge", edge, "--json")
    assert stale.exit_code == 1
    drift = json.loads(stale.stdout)["drift"]
    assert [(d["kind"], d["where"]) for d in drift] == [("stale at the edge", edge)]

    waited = run_cli(
        "publish", set_coverage(state, 0.3), *args, "--wait-edge", edge, "--wait-timeout", "2"
    )  # still no purge: the edge keeps its copy for max-age=30
    assert waited.exit_code == 4
    assert "the documents are published, but 1 document still served old bytes" in waited.stderr
    assert KEY_A not in waited.stderr

    purged = run_cli(
        "publish", set_coverage(state, 0.4), *args, "--cdn", "http-purge", "--purge-url", edge,
        "--wait-edge", edge, "--json",
    )  # fmt: skip
    assert purged.exit_code == 0, purged.stderr
    (wait,) = json.loads(purged.stdout)["edges"]
    assert wait["fresh"] == 1 and wait["stale"] == [] and 0 <= wait["max_s"] < 2
    assert run_cli("verify", state, *args, "--edge", edge).exit_code == 0


def fetch_as(edge: str, host: str) -> bytes:
    """A client that reaches the edge under the CDN's public name."""
    request = urllib.request.Request(f"{edge}/config/{KEY_A}", headers={"Host": host})
    with urllib.request.urlopen(request, timeout=10) as response:
        body: bytes = response.read()
        return body


def test_a_purge_reaches_what_clients_fetched_under_the_public_name(
    stack: tuple[str, str], tmp_path: Path
) -> None:
    """Clients ask for cdn.example.com; the publisher PURGEs 127.0.0.1:<port>. The edge keeps
    one object per path (whatever the Host), and asks the origin under the origin's name:
    the next client gets the new bytes at once."""
    endpoint, edge = stack
    state = tmp_path / "s.yaml"
    args = ("--target", f"s3://{BUCKET}", "--endpoint-url", endpoint)
    assert run_cli("publish", set_coverage(state, 0.1), *args).exit_code == 0
    assert b'"coverage":0.1' in fetch_as(edge, "cdn.example.com")
    assert b'"coverage":0.1' in fetch_as(edge, "other.example.net:8443")

    purged = run_cli(
        "publish", set_coverage(state, 0.2), *args, "--cdn", "http-purge", "--purge-url", edge
    )
    assert purged.exit_code == 0, purged.stderr
    assert "Purged 1 path from the CDN" in purged.stdout
    live = s3_client(endpoint).get_object(Bucket=BUCKET, Key=f"config/{KEY_A}")["Body"].read()
    assert b'"coverage":0.2' in live
    assert fetch_as(edge, "cdn.example.com") == live
    assert fetch_as(edge, "other.example.net:8443") == live
