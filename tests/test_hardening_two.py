"""Hardening, round two: each class of the second pass, tested the way a user meets it
(the bookkeeping files have their own property: test_bookkeeping_fuzz.py).

Keys never shown, even glued to other key characters; nothing written or deleted through
a symlink anywhere under _publisher/; rollback keeps a document another tool rewrote,
as a prune does; a stuck lock guard, a FIFO or a device as the state, a BOM in a JSON
state, invisible characters in identifiers, a slow edge, a full disk, an origin that
would write code into a configuration, one client holding every connection.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import publisher
from publisher.errors import LockHeldError
from publisher.servers.serve import make_server
from publisher.settings import DEFAULT_CACHE_CONTROL
from publisher.targets import LocalTarget
from tests.conftest import KEY_A, KEY_G, base_state, dump_state, run_cli, tree

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
VARNISHD = shutil.which("varnishd") or (
    "/usr/sbin/varnishd" if os.path.exists("/usr/sbin/varnishd") else None
)


def _published(tmp_path: Path, state: dict[str, Any] | None = None) -> tuple[Path, Path]:
    path = dump_state(tmp_path / "state.yaml", state or base_state())
    target = tmp_path / "public"
    assert run_cli("publish", path, "--target", target).exit_code == 0
    return path, target


# --- keys never shown --------------------------------------------------------------


def test_a_key_glued_to_other_key_characters_is_never_shown(tmp_path: Path) -> None:
    """A description `rotated-from-<key>` (and `<key>` glued on both sides) shows the key
    as a label in publish's text and --json, keys list (text and --json), and both
    HTML pages."""
    state = base_state()
    keys = state["organizations"][0]["api_keys"]
    keys[0]["description"] = f"rotated-from-{KEY_G}"
    keys[1]["description"] = f"x{KEY_G}_y and {KEY_A}-old"
    path = dump_state(tmp_path / "state.yaml", state)
    target = tmp_path / "public"
    outputs = [
        run_cli("publish", path, "--target", target, "--report", tmp_path / "p.html"),
        run_cli("publish", path, "--target", target, "--dry-run", "--json"),
        run_cli("keys", "list", path),
        run_cli("keys", "list", path, "--json"),
        run_cli("report", path, "--target", target, "-o", tmp_path / "s.html"),
    ]
    assert all(o.exit_code == 0 for o in outputs), [o.stderr for o in outputs]
    listed = outputs[2].stdout
    assert "rotated-from-key_glob…0003" in listed and "key_acme…0001-old" in listed
    texts = [o.stdout + o.stderr for o in outputs]
    texts += [(tmp_path / "p.html").read_text(), (tmp_path / "s.html").read_text()]
    for text in texts:
        assert KEY_G not in text and KEY_A not in text


# --- symlinks under _publisher/ -----------------------------------------------------


@pytest.mark.parametrize("folder", ["bodies", "history", "generations"])
def test_no_bookkeeping_is_written_through_a_symlinked_folder(tmp_path: Path, folder: str) -> None:
    """_publisher/bodies (history, generations) made a symlink to elsewhere: the next
    publish refuses (exit 4, naming it) and writes nothing there."""
    path, target = _published(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    linked = target / "_publisher" / folder
    shutil.rmtree(linked)
    linked.symlink_to(elsewhere, target_is_directory=True)
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.3
    dump_state(path, state)
    result = run_cli("publish", path, "--target", target)
    assert result.exit_code == 4, result.stderr
    assert f"_publisher/{folder} is a symbolic link" in result.stderr
    assert list(elsewhere.iterdir()) == []


# --- rollback and the delete guard --------------------------------------------------


def test_rollback_keeps_a_document_another_tool_rewrote(tmp_path: Path) -> None:
    """Generation 2 added a key; another tool rewrote that key's document since: a
    rollback to 1 leaves it in place and says so, as `publish --prune` would."""
    one = base_state()
    one["organizations"][1]["api_keys"] = []
    path, target = _published(tmp_path, one)
    assert run_cli("publish", dump_state(path, base_state()), "--target", target).exit_code == 0
    rewritten = target / "config" / KEY_G
    rewritten.write_bytes(b'{"status":200,"overrides":{"by":"another tool"}}')
    result = run_cli("rollback", "--to", "1", "--target", target)
    assert result.exit_code == 0, result.stderr
    assert rewritten.read_bytes() == b'{"status":200,"overrides":{"by":"another tool"}}'
    assert "changed since publisher wrote it: left in place" in result.stdout
    plan = run_cli("rollback", "--to", "1", "--target", target, "--dry-run", "--json")
    assert json.loads(plan.stdout)["kept"] == ["key_glob…0003"]


# --- inputs that hang or exhaust ----------------------------------------------------


def test_a_held_lock_guard_is_waited_for_a_while_then_exit_5(tmp_path: Path) -> None:
    """Another process holds the OS lock on _publisher/lock.guard: the publish waits its
    bounded time, then says who to look for (exit 5) instead of hanging."""
    path, target = _published(tmp_path)
    guard = target / "_publisher" / "lock.guard"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time; f = open(sys.argv[1], 'w'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)", str(guard)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.3
    dump_state(path, state)  # a change: the publish takes the lock
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(LockHeldError) as held:
            publisher.publish(path, LocalTarget(target, guard_wait=0.5))
        assert time.monotonic() - started < 5
        assert "lock.guard" in held.value.message and held.value.exit_code == 5
    finally:
        holder.kill()
        holder.wait()
    with open(guard, "w") as free:  # released with its process
        fcntl.flock(free, fcntl.LOCK_EX | fcntl.LOCK_NB)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_state_that_is_no_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    """A FIFO (which would block forever) or /dev/zero (which never ends), even behind a
    name that ends in .yaml: exit 2 at once, for validate and publish."""
    path = tmp_path / "state.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    for command in (["validate", path], ["publish", path, "--target", tmp_path / "t"]):
        run = subprocess.run(
            [sys.executable, "-m", "publisher", *map(str, command)],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        assert run.returncode == 2, run.stderr
        assert "not a regular file" in run.stderr
    assert not (tmp_path / "t").exists()


def test_keys_commands_keep_a_json_states_byte_order_mark(tmp_path: Path) -> None:
    """A JSON state with a UTF-8 BOM (validate and publish take it): keys create and
    revoke edit it, and the BOM stays."""
    path = tmp_path / "state.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(base_state(), indent=2).encode())
    created = run_cli("keys", "create", path, "--org", "acme")
    assert created.exit_code == 0, created.stderr
    key = created.stdout.strip()
    revoked = run_cli("keys", "revoke", path, key)
    assert revoked.exit_code == 0, revoked.stderr
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    entry = json.loads(raw.decode("utf-8-sig"))["organizations"][0]["api_keys"][-1]
    assert entry == {"key": key, "revoked": True}
    assert run_cli("validate", path).exit_code == 0


@pytest.mark.parametrize("char", ["\u200b", "\u2060", "\u202e", "\u00ad", "\ufeff"])
def test_identifiers_with_invisible_characters_are_refused(tmp_path: Path, char: str) -> None:
    """Experiment keys (and groups) that differ only by an invisible or bidi character are
    not side by side: exit 3, the location and the character named."""
    state = base_state()
    experiments = state["organizations"][0]["experiments"]
    experiments.append({**experiments[0], "key": f"exp{char}-a"})
    result = run_cli("publish", dump_state(tmp_path / "s.yaml", state), "--target", tmp_path / "t")
    assert result.exit_code == 3, result.stderr
    assert f"invisible or direction-changing character (U+{ord(char):04X})" in result.stderr
    assert "experiments[2].key" in result.stderr
    assert not (tmp_path / "t").exists()


class _SlowEdge(BaseHTTPRequestHandler):
    """An edge that answers every request after a long while, with old bytes."""

    def do_GET(self) -> None:
        time.sleep(4)
        body = b'{"status":200,"overrides":{}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_edge() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowEdge)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_wait_timeout_is_one_deadline_with_one_summary(tmp_path: Path, slow_edge: str) -> None:
    """--wait-timeout 1 against an edge that takes 4 s a request, two edges, three changed
    documents: done in about a second, exit 4, one line per edge (not per key)."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    started = time.monotonic()
    result = run_cli(
        "publish", path, "--target", tmp_path / "t", "--wait-edge", slow_edge,
        "--wait-edge", slow_edge + "/", "--wait-timeout", "1",
    )  # fmt: skip
    took = time.monotonic() - started
    assert result.exit_code == 4, result.stderr
    assert took < 3.5, took
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors[0].startswith("error: the documents are published, but 6 documents still")
    assert len(errors) == 3 and all("still stale: key_" in e for e in errors[1:])


def test_a_full_disk_is_one_line_per_cause(tmp_path: Path) -> None:
    """Every document write fails alike (files capped below a document's size): one line
    with the count and the first few labels, not a line per key."""
    state = base_state()
    org = state["organizations"][0]
    org["api_keys"] = [{"key": f"key_fulldisk_{i:016d}"} for i in range(12)]
    org["experiments"] += [
        {**org["experiments"][0], "key": f"another-experiment-{i:02d}"} for i in range(8)
    ]  # documents of over 300 bytes
    path = dump_state(tmp_path / "s.yaml", state)

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))

    run = subprocess.run(
        [sys.executable, "-m", "publisher", "publish", str(path), "--target", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=60, preexec_fn=small_files,
    )  # fmt: skip
    assert run.returncode == 4, run.stderr
    errors = run.stderr.splitlines()
    assert errors[0].startswith("error: 12 of 13 documents failed to upload"), errors
    assert len(errors) == 2 and errors[1].startswith("  12 documents: cannot write the document")
    assert errors[1].endswith(" and 9 more)")  # the 13th, of another organization, is small


# --- generated configurations are code ----------------------------------------------


@pytest.mark.parametrize(
    "origin",
    ['http://[fe80::1%eth0";acl purge { "0.0.0.0"/0; }]:80', "http://[fe80::1%25lo]:80",
     "http://exa_mple.com", "http://host.example:80/a\"b", "http://127.0.0.1:80/a;b"],
)  # fmt: skip
def test_an_origin_that_would_write_code_is_refused(origin: str) -> None:
    """Whatever the origin's host (an IPv6 zone id holds any byte) or path: exit 2, and
    nothing printed to put into a server."""
    for kind in ("varnish", "nginx"):
        result = run_cli("edge-config", kind, "--origin", origin)
        assert result.exit_code == 2, (kind, result.stdout)
        assert result.stdout == ""


ORIGINS = ["http://127.0.0.1:3100", "http://[::1]:3100", "http://localhost:3100/bucket/site"]


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")
@pytest.mark.parametrize("origin", ORIGINS)
def test_nginx_takes_the_config_for_every_kind_of_host(tmp_path: Path, origin: str) -> None:
    """IPv4, IPv6 and a host name: the block nginx gets passes `nginx -t` in an http {}."""
    work = tmp_path / "nginx"
    work.mkdir()
    work.chmod(0o777)
    block = run_cli("edge-config", "nginx", "--origin", origin, "--cache-path", str(work / "c"))
    assert block.exit_code == 0, block.stderr
    (work / "publisher.conf").write_text(block.stdout)
    (work / "nginx.conf").write_text(
        f"pid {work}/nginx.pid;\nerror_log {work}/error.log;\nevents {{}}\nhttp {{\n"
        f"  client_body_temp_path {work}/body;\n  proxy_temp_path {work}/proxy;\n"
        f"  fastcgi_temp_path {work}/f;\n  uwsgi_temp_path {work}/u;\n  scgi_temp_path {work}/s;\n"
        f"  include {work}/publisher.conf;\n}}\n"
    )
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(work), "-c", str(work / "nginx.conf")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


@pytest.mark.skipif(VARNISHD is None, reason="varnishd is not installed (apt-get install varnish)")
@pytest.mark.parametrize("origin", ORIGINS)
def test_varnish_compiles_the_vcl_for_every_kind_of_host(tmp_path: Path, origin: str) -> None:
    """IPv4, IPv6 and a host name: the VCL compiles in varnishd (-C)."""
    vcl = run_cli("edge-config", "varnish", "--origin", origin)
    assert vcl.exit_code == 0, vcl.stderr
    work = Path(tempfile.mkdtemp(prefix="publisher-vcl-"))  # varnishd's users read it
    try:
        work.chmod(0o777)
        (work / "publisher.vcl").write_text(vcl.stdout)
        (work / "publisher.vcl").chmod(0o644)
        compiled = subprocess.run(
            [VARNISHD, "-C", "-f", str(work / "publisher.vcl"), "-n", str(work / "n")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert compiled.returncode == 0, compiled.stderr[-2000:]


# --- servers ------------------------------------------------------------------------


def test_one_client_cannot_take_every_connection(tmp_path: Path) -> None:
    """A client holding its share of slow connections gets 503 for one more; a client at
    another address is still served."""
    root = tmp_path / "public"
    (root / "config").mkdir(parents=True)
    (root / "config" / KEY_A).write_bytes(b'{"status":200,"overrides":{}}')
    server = make_server(root, "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    server.set_limits(max_connections=8, deadline=5.0, per_client=2)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    port = server.server_port
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    try:
        for sock in slow:
            sock.sendall(b"GET /config/")  # and nothing more
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port), timeout=3) as third:
            third.sendall(f"GET /config/{KEY_A} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert third.recv(100).startswith(b"HTTP/1.1 503")
        other = socket.create_connection(
            ("127.0.0.1", port), timeout=3, source_address=("127.0.0.2", 0)
        )
        with other:
            other.sendall(
                f"GET /config/{KEY_A} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            )
            assert other.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        for sock in slow:
            sock.close()
        server.shutdown()
        server.server_close()


# --- a clock ahead ------------------------------------------------------------------


def test_a_last_full_scan_in_the_future_is_no_scan(tmp_path: Path) -> None:
    """The manifest says the last full scan is a year ahead (a runner with a fast clock):
    the periodic full scan still runs, and repairs a document deleted by hand."""
    path, target = _published(tmp_path)
    manifest = target / "_publisher" / "manifest.json"
    data = json.loads(manifest.read_bytes())
    data["full_scan_at"] = time.time() + 365 * 86400
    manifest.write_text(json.dumps(data))
    (target / "config" / KEY_A).unlink()
    result = run_cli("publish", path, "--target", target, "--full-scan-every", "3600")
    assert result.exit_code == 0, result.stderr
    assert (target / "config" / KEY_A).exists()
    assert "config/" + KEY_A in tree(target)
