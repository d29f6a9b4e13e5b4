"""Edge truth: what the publisher says the edge serves is what the edge serves.

Real servers only: the origin is a directory served by `publisher serve`, or moto's S3
(a bucket, and a bucket with a prefix: the usual `s3://bucket/site`); the edge is the
configuration `publisher edge-config --target ...` writes, running in real varnishd
(purged with HTTP PURGE) or nginx (expiring by the documents' max-age). After a change
the edge serves the new bytes (Varnish at once, nginx within its max-age), `verify
--edge` exits 0 and `--wait-edge` confirms; an edge that refuses the PURGE leaves a
pending purge that a publish without the CDN refuses to forget and the next publish
with it clears.
"""

from __future__ import annotations

import json
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from publisher.servers.serve import make_server
from publisher.settings import DEFAULT_CACHE_CONTROL
from tests.conftest import KEY_A, base_state, dump_state, run_cli
from tests.s3util import CREDENTIALS, moto_server, s3_client

VARNISHD = shutil.which("varnishd") or (
    "/usr/sbin/varnishd" if os.path.exists("/usr/sbin/varnishd") else None
)
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
BUCKET = "edge-truth"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_up(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"{what} did not start: {output[-2000:]}")
            time.sleep(0.1)


@contextmanager
def varnish(config: str, **_: Any) -> Iterator[str]:
    if VARNISHD is None:
        pytest.skip("varnishd is not installed (apt-get install varnish; .ci/run does)")
    work = Path(tempfile.mkdtemp(prefix="publisher-truth-v-"))
    work.chmod(0o755)  # varnishd drops privileges: its users read the VCL
    (work / "edge.vcl").write_text(config)
    port = _port()
    proc = subprocess.Popen(
        [VARNISHD, "-F", "-a", f"127.0.0.1:{port}", "-f", str(work / "edge.vcl"),
         "-n", str(work / "n"), "-s", "malloc,16m", "-p", "default_grace=0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_up(f"http://127.0.0.1:{port}", proc, "varnishd")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def nginx(config: str, work: Path) -> Iterator[str]:
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does)")
    port = int(config.split("listen ", 1)[1].split(";", 1)[0])
    (work / "publisher.conf").write_text(config)
    (work / "nginx.conf").write_text(
        f"daemon off;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {work}/body;\n"
        f"  proxy_temp_path {work}/proxy;\n  include {work}/publisher.conf;\n}}\n"
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(work), "-c", str(work / "nginx.conf")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_up(f"http://127.0.0.1:{port}", proc, "nginx")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@dataclass
class Origin:
    """Where the documents are published (`args` for every command), and the extra
    arguments edge-config needs beside --target."""

    args: list[str]
    edge_args: list[str]


@contextmanager
def origin(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Origin]:
    if kind == "directory":
        public = tmp_path / "public"
        (public / "config").mkdir(parents=True)
        server = make_server(public, "127.0.0.1", 0, "public, max-age=1")
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        try:
            served = f"http://127.0.0.1:{server.server_port}"
            yield Origin(["--target", str(public)], ["--origin", served])
        finally:
            server.shutdown()
            server.server_close()
        return
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    prefix = "site/" if kind == "s3-prefix" else ""
    with moto_server() as endpoint:
        client: Any = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/{prefix}config/*"}]}  # fmt: skip
        client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
        target = f"s3://{BUCKET}/{prefix}".rstrip("/")
        store = ["--target", target, "--endpoint-url", endpoint]
        yield Origin(store, [])


def _state(path: Path, coverage: float) -> Path:
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = coverage
    return dump_state(path, state)


ORIGINS = ["directory", "s3", "s3-prefix"]


@pytest.mark.parametrize("kind", ORIGINS)
def test_varnish_serves_the_new_bytes_right_after_the_purge(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Varnish from `edge-config varnish --target`: cached, then purged by the publish (the
    path it PURGEs is the path it serves), verify --edge exits 0, --wait-edge confirms."""
    with origin(kind, tmp_path, monkeypatch) as where:
        state = tmp_path / "s.yaml"
        assert run_cli("publish", _state(state, 0.1), *where.args).exit_code == 0
        vcl = run_cli("edge-config", "varnish", *where.args, *where.edge_args)
        assert vcl.exit_code == 0, vcl.stderr
        with varnish(vcl.stdout) as edge:
            url = f"{edge}/config/{KEY_A}"
            assert b'"coverage":0.1' in _get(url)[1]  # now cached
            cdn = ["--cdn", "http-purge", "--purge-url", edge]
            changed = run_cli(
                "publish", _state(state, 0.2), *where.args, *cdn, "--wait-edge", edge,
                "--wait-timeout", "10",
            )  # fmt: skip
            assert changed.exit_code == 0, changed.stderr
            assert "Purged 1 path from the CDN" in changed.stdout
            assert f"Edge {edge}: 1 document fresh" in changed.stdout
            assert b'"coverage":0.2' in _get(url)[1]
            verified = run_cli("verify", state, *where.args, "--edge", edge)
            assert verified.exit_code == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize("kind", ORIGINS)
def test_nginx_serves_the_new_bytes_within_their_max_age(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nginx from `edge-config nginx --target`: cached; after a change it serves the new
    bytes within the documents' max-age (1 s here), which --wait-edge waits out and
    confirms; verify --edge then exits 0."""
    work = Path(tempfile.mkdtemp(prefix="publisher-truth-n-"))
    work.chmod(0o777)  # nginx's workers run as another user: they write the cache here
    try:
        with origin(kind, tmp_path, monkeypatch) as where:
            state = tmp_path / "s.yaml"
            short = ["--cache-control", "public, max-age=1"] if kind != "directory" else []
            assert run_cli("publish", _state(state, 0.1), *where.args, *short).exit_code == 0
            block = run_cli(
                "edge-config", "nginx", *where.args, *where.edge_args,
                "--listen-port", str(_port()), "--cache-path", str(work / "cache"),
            )  # fmt: skip
            assert block.exit_code == 0, block.stderr
            with nginx(block.stdout, work) as edge:
                url = f"{edge}/config/{KEY_A}"
                assert b'"coverage":0.1' in _get(url)[1]
                changed = run_cli(
                    "publish", _state(state, 0.2), *where.args, *short, "--wait-edge", edge,
                    "--wait-timeout", "15",
                )  # fmt: skip
                assert changed.exit_code == 0, changed.stderr
                assert f"Edge {edge}: 1 document fresh" in changed.stdout
                assert b'"coverage":0.2' in _get(url)[1]
                verified = run_cli("verify", state, *where.args, "--edge", edge)
                assert verified.exit_code == 0, verified.stdout + verified.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_refused_purge_stays_pending_until_a_publish_that_knows_the_cdn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prefixed bucket behind Varnish. A PURGE the edge answers 404 (a path it does not
    serve) is no purge: exit 4, pending. A publish without the CDN says so and exits 4,
    writing nothing; --ignore-pending-purge goes on; the next publish with the CDN purges
    what was pending, and the edge serves the new bytes."""
    with origin("s3-prefix", tmp_path, monkeypatch) as where:
        state = tmp_path / "s.yaml"
        assert run_cli("publish", _state(state, 0.1), *where.args).exit_code == 0
        vcl = run_cli("edge-config", "varnish", *where.args)
        with varnish(vcl.stdout) as edge:
            url = f"{edge}/config/{KEY_A}"
            assert b'"coverage":0.1' in _get(url)[1]
            wrong = ["--cdn", "http-purge", "--purge-url", edge, "--edge-path-prefix", "/site"]
            refused = run_cli("publish", _state(state, 0.2), *where.args, *wrong)
            assert refused.exit_code == 4, refused.stderr
            assert "PURGE request failed" in refused.stderr and "HTTP 404" in refused.stderr
            assert b'"coverage":0.1' in _get(url)[1]  # the edge still serves the old bytes
            unknown = run_cli("publish", _state(state, 0.3), *where.args)
            assert unknown.exit_code == 4
            assert "is pending from an earlier publish" in unknown.stderr
            assert len(unknown.stderr.strip().splitlines()) == 1
            assert b'"coverage":0.1' in _get(url)[1] and "0.3" not in unknown.stdout
            ignored = run_cli("publish", state, *where.args, "--ignore-pending-purge")
            assert ignored.exit_code == 0, ignored.stderr
            right = run_cli(
                "publish", state, *where.args, "--cdn", "http-purge", "--purge-url", edge
            )
            assert right.exit_code == 0, right.stderr
            assert b'"coverage":0.3' in _get(url)[1]
            again = run_cli("publish", state, *where.args)  # nothing pending any more
            assert again.exit_code == 0, again.stderr


def test_a_new_cache_control_reaches_every_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cache-Control is part of what makes a document unchanged: another --cache-control
    (the same state) puts every document again with it, says so in the dry run first,
    and the run after that has nothing to do."""
    with origin("s3-prefix", tmp_path, monkeypatch) as where:
        state = _state(tmp_path / "s.yaml", 0.1)
        first = run_cli("publish", state, *where.args, "--full-scan", "--json")
        assert first.exit_code == 0, first.stderr
        was = json.loads(first.stdout)["generation"]  # the bucket may hold earlier tests'
        endpoint = where.args[-1]
        client: Any = s3_client(endpoint)
        short = ["--cache-control", "public, max-age=5"]
        plan = run_cli("publish", state, *where.args, *short, "--dry-run", "--json")
        assert plan.exit_code == 0, plan.stderr
        said = json.loads(plan.stdout)
        assert said["counts"]["changed"] == 3 and said["counts"]["unchanged"] == 0
        assert said["headers_changed"] == [
            {
                "header": "Cache-Control",
                "before": DEFAULT_CACHE_CONTROL,
                "after": "public, max-age=5",
            }
        ]
        done = run_cli("publish", state, *where.args, *short, "--json")
        assert done.exit_code == 0, done.stderr
        assert json.loads(done.stdout)["generation"] == was + 1  # a generation of its own
        history = json.loads(run_cli("history", *where.args, "--json").stdout)
        assert [g["generation"] for g in history][:2] == [was + 1, was]
        objects = client.list_objects_v2(Bucket=BUCKET, Prefix="site/config/")["Contents"]
        assert len(objects) == 3
        for item in objects:
            head = client.head_object(Bucket=BUCKET, Key=item["Key"])
            assert head["CacheControl"] == "public, max-age=5"
        again = run_cli("publish", state, *where.args, *short)
        assert again.exit_code == 0 and "Nothing to upload" in again.stdout, again.stdout
        back = run_cli("publish", state, *where.args, "--full-scan")  # the default again
        assert back.exit_code == 0 and "0 added, 3 changed" in back.stdout, back.stdout
        assert "The documents' Cache-Control changes from" in back.stdout
        assert f"Generation {was + 2} recorded" in back.stdout, back.stdout


def test_a_rollback_purges_where_the_edge_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edge that serves the prefixed bucket under /site (edge-config
    --edge-path-prefix): the emergency undo purges /site/config/<key>, as publish does,
    and the edge serves the restored bytes at once."""
    with origin("s3-prefix", tmp_path, monkeypatch) as where:
        state = tmp_path / "s.yaml"
        prefix = ["--edge-path-prefix", "/site"]
        assert run_cli("publish", _state(state, 0.1), *where.args).exit_code == 0
        vcl = run_cli("edge-config", "varnish", *where.args, *prefix)
        assert vcl.exit_code == 0, vcl.stderr
        with varnish(vcl.stdout) as edge:
            cdn = ["--cdn", "http-purge", "--purge-url", edge, *prefix]
            url = f"{edge}/site/config/{KEY_A}"
            assert b'"coverage":0.1' in _get(url)[1]
            bad = run_cli("publish", _state(state, 0.2), *where.args, *cdn)
            assert bad.exit_code == 0, bad.stderr
            assert b'"coverage":0.2' in _get(url)[1]  # cached again, the bad bytes
            undone = run_cli("rollback", "--to", "1", *where.args, *cdn)
            assert undone.exit_code == 0, undone.stdout + undone.stderr
            assert "Purged 1 path from the CDN" in undone.stdout
            assert b'"coverage":0.1' in _get(url)[1]


def test_a_rollback_puts_back_with_the_headers_the_others_have(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documents stored with --cache-control "public, max-age=5": a rollback (which has
    no --cache-control) puts a document back with that header, not the default, and the
    next publish with the same settings has nothing to do."""
    with origin("s3-prefix", tmp_path, monkeypatch) as where:
        state = tmp_path / "s.yaml"
        short = ["--cache-control", "public, max-age=5"]
        assert run_cli("publish", _state(state, 0.1), *where.args, *short).exit_code == 0
        assert run_cli("publish", _state(state, 0.2), *where.args, *short).exit_code == 0
        undone = run_cli("rollback", "--to", "1", *where.args)
        assert undone.exit_code == 0, undone.stdout + undone.stderr
        assert "put back 1," in undone.stdout
        client: Any = s3_client(where.args[-1])
        for item in client.list_objects_v2(Bucket=BUCKET, Prefix="site/config/")["Contents"]:
            head = client.head_object(Bucket=BUCKET, Key=item["Key"])
            assert head["CacheControl"] == "public, max-age=5", item["Key"]
        again = run_cli("publish", _state(state, 0.1), *where.args, *short)
        assert again.exit_code == 0 and "Nothing to upload" in again.stdout, again.stdout
