"""The safety promise at its edges: each finding of the hardening review, pinned.

Bad input: exit 3 with `file:line: location: message`, nothing written, no traceback.
No raw API key in any output. Nothing deleted that publisher did not write. No write
through a symlink. Servers that answer once and keep running.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from publisher.delivery.signatures import sign
from publisher.retry import Backoff
from publisher.servers.http import BoundedServer
from publisher.servers.receive import ReceiveServer
from publisher.servers.serve import make_server
from publisher.settings import DEFAULT_CACHE_CONTROL
from publisher.targets.publish_lock import LockInfo
from tests.conftest import KEY_A, KEY_G, base_state, dump_state, run_cli, tree, unnamed
from tests.race import dead_pid, racers

SECRET = "hook-secret"


def yaml_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BASE_YAML = """\
version: 1
organizations:
  - id: acme
    api_keys:
      - key: key_prod_9f2c4e1a7b3d5f60
        description: Production
    experiments:
      - key: exp
        status: running
        variations: [a, b]
        phases:
          - coverage: 1
            weights: [0.5, 0.5]
"""
KEY = "key_prod_9f2c4e1a7b3d5f60"


def refused(tmp_path: Path, state: Path, location: str, message: str) -> None:
    """validate and publish both exit 3 naming file:line: location: message; nothing written."""
    target = tmp_path / "public"
    for args in (("validate", state), ("publish", state, "--target", target)):
        result = run_cli(*args)
        assert result.exit_code == 3, result.stderr
        lines = [line.strip() for line in unnamed(result.stderr).splitlines()]
        assert any(
            line.startswith(f"{state}:") and f": {location}: " in line and message in line
            for line in lines
        ), result.stderr
        assert KEY not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
    assert not target.exists()


# --- one input path, one set of checks -------------------------------------------------


def test_alias_bomb_is_refused_quickly_and_small(tmp_path: Path) -> None:
    """A 9-level YAML alias bomb is exit 3 under a 1 GiB memory limit, not a MemoryError."""
    lines = ["version: 1", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("organizations: *a9")
    state = yaml_text(tmp_path, "\n".join(lines) + "\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    run = subprocess.run(
        [sys.executable, "-m", "publisher", "validate", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )
    assert run.returncode == 3, run.stderr[-2000:]
    assert "aliases (*name) expand the document past" in run.stderr


@pytest.mark.parametrize(
    ("edit", "location", "message"),
    [
        (
            ("description: Production", "description: 2024-01-01"),
            "organizations[0].api_keys[0].description",
            "is a date or a time: quote it",
        ),
        (
            ("description: Production", "description: !!binary aGVsbG8="),
            "organizations[0].api_keys[0].description",
            "is binary data",
        ),
        (
            ("description: Production", "description: !foo bar"),
            "organizations[0].api_keys[0].description",
            "has the tag !foo",
        ),
        (
            ("description: Production", "description: !!python/name:os.system"),
            "organizations[0].api_keys[0].description",
            "has the tag !!python/name:os.system",
        ),
        (
            ("coverage: 1", "coverage: 1" + "0" * 4400),
            "organizations[0].experiments[0].phases[0].coverage",
            "a number of over 30 digits",
        ),
        (
            ("coverage: 1", "coverage: .nan"),
            "organizations[0].experiments[0].phases[0].coverage",
            "not a finite number",
        ),
        (
            ("variations: [a, b]", "variations: &v [a, *v]"),
            "organizations[0].experiments[0].variations[1]",
            "an alias refers to a list or mapping that contains it",
        ),
    ],
    ids=["date", "binary", "unknown-tag", "python-tag", "huge-int", "nan", "recursive-alias"],
)
def test_yaml_values_that_are_not_plain_data(
    tmp_path: Path, edit: tuple[str, str], location: str, message: str
) -> None:
    """Dates, binary, tags, NaN, huge integers and recursive aliases: located exit 3."""
    refused(tmp_path, yaml_text(tmp_path, BASE_YAML.replace(*edit)), location, message)


def test_yaml_nesting_is_bounded(tmp_path: Path) -> None:
    """A list nested 900 deep is a located error, not a RecursionError."""
    state = yaml_text(tmp_path, "version: 1\norganizations:\n" + "- " * 900 + "x\n")
    refused(tmp_path, state, "organizations" + "[0]" * 63, "nested deeper than 64 levels")


def json_state(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.json"
    path.write_text(text, encoding="utf-8")
    return path


def base_json(**edits: Any) -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load(BASE_YAML)
    data["organizations"][0]["experiments"][0]["phases"][0].update(edits)
    return data


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        (
            json.dumps(base_json(coverage=float("nan")), indent=1),
            "organizations[0].experiments[0].phases[0].coverage",
            "not a finite number",
        ),
        (
            json.dumps(base_json(weights=[float("inf"), 0.5]), indent=1),
            "organizations[0].experiments[0].phases[0].weights[0]",
            "not a finite number",
        ),
        (
            '{"version": 1, "organizations": [], "x": ' + "[" * 5000 + "]" * 5000 + "}",
            "",
            "invalid JSON: nested too deeply",
        ),
        (
            json.dumps(base_json()).replace('"coverage": 1', '"coverage": 1' + "0" * 5000),
            "",
            "invalid JSON: a number of over 4,300 digits",
        ),
    ],
    ids=["nan", "infinity", "deep", "huge-int"],
)
def test_json_values_that_are_not_plain_data(
    tmp_path: Path, text: str, location: str, message: str
) -> None:
    """NaN, Infinity, deep nesting and huge integers in JSON: located exit 3, no traceback."""
    state = json_state(tmp_path, text)
    target = tmp_path / "public"
    result = run_cli("publish", state, "--target", target)
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[1].strip()
    assert first.startswith(f"{state}:") and message in first, result.stderr
    assert location in first
    assert first.split(":")[1].isdigit()  # a line number
    assert not target.exists()


def test_json_key_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    """A JSON key "key_...\\n" does not match the key pattern: the whole string must."""
    import yaml

    data = yaml.safe_load(BASE_YAML)
    data["organizations"][0]["api_keys"][0]["key"] = KEY + "\n"
    state = json_state(tmp_path, json.dumps(data, indent=1))
    refused(tmp_path, state, "organizations[0].api_keys[0].key", "does not match the pattern")


@pytest.mark.parametrize(
    "edit",
    [
        (f"      - key: {KEY}\n        description: Production\n", f"      - {KEY}\n"),
        (f"key: {KEY}", f'key: "{KEY} "'),
        (f"      - key: {KEY}\n        description: Production\n", f"      - {KEY}: x\n"),
    ],
    ids=["key-as-list-item", "trailing-space", "key-as-mapping-key"],
)
def test_validation_messages_never_echo_a_key(tmp_path: Path, edit: tuple[str, str]) -> None:
    """A misplaced or malformed key is named by its label in every message."""
    state = yaml_text(tmp_path, BASE_YAML.replace(*edit))
    result = run_cli("validate", state)
    assert result.exit_code == 3
    assert KEY not in result.stderr and "key_prod…" in result.stderr
    as_json = run_cli("validate", state, "--json")
    assert KEY not in as_json.stdout + as_json.stderr


def test_normalization_duplicates_are_refused(tmp_path: Path) -> None:
    """Two experiment keys equal after NFKC (é composed and decomposed) are one key."""
    text = BASE_YAML + (
        "      - key: caf\u00e9\n        status: draft\n        variations: [a, b]\n"
        "      - key: cafe\u0301\n        status: draft\n        variations: [a, b]\n"
    )
    refused(tmp_path, yaml_text(tmp_path, text), "organizations[0].experiments[2].key", "duplicate")


def test_webhook_url_is_checked_at_load(tmp_path: Path) -> None:
    """A control character in a webhook URL is exit 3 at load, and the URL is never shown."""
    text = BASE_YAML + (
        '    webhooks:\n      - url: "https://h.example/x\\ay?token=SECRET"\n'
        "        secret_env: HOOK_SECRET\n"
    )
    state = yaml_text(tmp_path, text)
    os.environ["HOOK_SECRET"] = SECRET
    try:
        refused(tmp_path, state, "organizations[0].webhooks[0].url", "control character")
        result = run_cli("validate", state)
        assert "SECRET" not in result.stderr
    finally:
        del os.environ["HOOK_SECRET"]


def test_descriptions_are_escaped_for_the_terminal(tmp_path: Path) -> None:
    """Newlines, ANSI escapes and right-to-left overrides in state text reach no terminal."""
    state = base_state()
    state["organizations"][0]["api_keys"][0]["description"] = "prod\n\x1b[31mred\u202eevil"
    path = dump_state(tmp_path / "s.yaml", state)
    result = run_cli("publish", path, "--target", tmp_path / "out")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "\\u001b[31mred\\u202eevil" in result.stdout
    assert not any(line.startswith("red") for line in result.stdout.splitlines())


# --- no raw key in any output ----------------------------------------------------------


def test_json_output_has_no_unsalted_key_hash(tmp_path: Path) -> None:
    """`publish --json` names keys by label only: no sha256 a short key is recovered from."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    result = run_cli("publish", path, "--target", tmp_path / "out", "--json")
    assert result.exit_code == 0
    changes = json.loads(result.stdout)["changes"]
    assert changes and all(set(c) >= {"key_label"} and "key_sha256" not in c for c in changes)


def test_validate_warns_about_short_keys(tmp_path: Path) -> None:
    """A key under 16 characters passes, with a warning that names it by label."""
    state = base_state()
    state["organizations"][1]["api_keys"][0]["key"] = "short_key_1"
    result = run_cli("validate", dump_state(tmp_path / "s.yaml", state))
    assert result.exit_code == 0
    assert ": 1 API key has fewer than 16 characters" in result.stderr
    assert result.stderr.startswith("warning: ")
    assert "short_key_1" not in result.stderr and "sho…" in result.stderr


def test_webhook_credentials_never_shown(tmp_path: Path) -> None:
    """userinfo and query of a webhook URL appear in no output, -v log or --json."""
    state = base_state()
    state["organizations"][0]["webhooks"] = [
        {"url": "http://user:hunter2@127.0.0.1:9/hook?token=t0ps3cret", "secret_env": "HOOK_S"}
    ]
    path = dump_state(tmp_path / "s.yaml", state)
    os.environ["HOOK_S"] = SECRET
    try:
        for extra in ((), ("--json",)):
            result = run_cli("-v", "publish", path, "--target", tmp_path / "out", *extra)
            assert result.exit_code == 4  # nothing listens on port 9
            shown = result.stdout + result.stderr
            assert "hunter2" not in shown and "t0ps3cret" not in shown and "user:" not in shown
            assert "127.0.0.1:9" in shown
    finally:
        del os.environ["HOOK_S"]


# --- delete only what we wrote ---------------------------------------------------------


def test_prune_leaves_files_publisher_did_not_write(tmp_path: Path) -> None:
    """Key-shaped files under config/ that no manifest records survive --prune."""
    target = tmp_path / "public"
    state = base_state()
    path = dump_state(tmp_path / "s.yaml", state)
    assert run_cli("publish", path, "--target", target).exit_code == 0
    for name in ("README-notes", "robots-txt-backup"):
        (target / "config" / name).write_text("mine")
    state["organizations"][1]["api_keys"][0]["revoked"] = True
    dump_state(path, state)
    result = run_cli("publish", path, "--target", target, "--prune", "--full-scan")
    assert result.exit_code == 0, result.stderr
    assert (target / "config" / "README-notes").read_text() == "mine"
    assert (target / "config" / "robots-txt-backup").read_text() == "mine"
    assert not (target / "config" / KEY_G).exists()  # ours: pruned
    assert "2 files under config/ that publisher did not write" in result.stdout
    adopted = run_cli("publish", path, "--target", target, "--prune-unmanaged", "--force")
    assert adopted.exit_code == 0, adopted.stderr
    assert not (target / "config" / "README-notes").exists()


# --- never through a symlink ------------------------------------------------------------


@pytest.mark.parametrize("link", ["config", "_publisher/tmp", "_publisher"])
def test_no_write_through_a_symlink(tmp_path: Path, link: str) -> None:
    """A symlinked config/ or _publisher/(tmp) is exit 4; the directory it points to is untouched."""
    target = tmp_path / "public"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("keep me")
    (target / link).parent.mkdir(parents=True, exist_ok=True)
    (target / link).symlink_to(elsewhere, target_is_directory=True)
    path = dump_state(tmp_path / "s.yaml", base_state())
    result = run_cli("publish", path, "--target", target, "--prune", "--force")
    assert result.exit_code == 4, result.stderr
    assert "is a symbolic link" in result.stderr
    assert tree(elsewhere) == {"precious": b"keep me"}


# --- a lock takeover that cannot race ----------------------------------------------------


def test_stale_lock_takeover_has_one_winner(tmp_path: Path) -> None:
    """100 rounds of two processes taking over a dead publisher's lock: never two holders."""
    doubles = 0
    with racers() as race:
        for round_ in range(100):
            root = tmp_path / f"r{round_}"
            (root / "_publisher").mkdir(parents=True)
            dead = LockInfo(socket.gethostname(), dead_pid(), "t", time.time(), time.time() + 60)
            (root / "_publisher" / "lock").write_bytes(dead.encode())
            won = race.winners({"take": "dir", "root": str(root)})
            assert won >= 1
            doubles += won > 1
    assert doubles == 0


def test_full_disk_while_writing_the_lock(tmp_path: Path) -> None:
    """A write that fails (file size limit: as a full disk) is one line and exit 4."""
    path = dump_state(tmp_path / "s.yaml", base_state())

    def tiny_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20, 20))

    run = subprocess.run(
        [sys.executable, "-m", "publisher", "publish", str(path), "--target", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=tiny_files,
    )
    assert run.returncode == 4, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("error: cannot write the lock") and run.stderr.count("\n") == 1


# --- options checked before use -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--target", "s3:/demo/site"), "s3: is not a target"),
        (("--target", "s3:demo"), "s3: is not a target"),
        (("--target", "s3://demo", "--endpoint-url", "127.0.0.1:5000"), "give a whole URL"),
        (("--target", "s3://demo", "--region", "eu west"), "not a region name"),
    ],
)
def test_malformed_options_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed target, endpoint or region is exit 2, one line, nothing created."""
    monkeypatch.chdir(tmp_path)
    path = dump_state(tmp_path / "s.yaml", base_state())
    result = run_cli("publish", path, *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_init_bucket_checks_the_endpoint() -> None:
    """init-bucket refuses an endpoint without a scheme before calling anything."""
    result = run_cli("init-bucket", "s3://demo", "--endpoint-url", "127.0.0.1:5000")
    assert result.exit_code == 2 and "give a whole URL" in result.stderr


# --- servers a hostile client cannot confuse or exhaust -----------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, int]]:
    root = tmp_path / "public"
    (root / "config").mkdir(parents=True)
    (root / "config" / KEY_A).write_bytes(b'{"status":200,"overrides":{}}')
    server = make_server(root, "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    server.set_limits(max_connections=4, deadline=2.0)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server, server.server_port
    server.shutdown()
    server.server_close()


def exchange(port: int, raw: bytes, wait: float = 3.0) -> bytes:
    """Send `raw`, half-close, and return every byte the server answers.

    A server that answers and closes before reading (the 503 of a full server) may
    reset the connection before the request is sent or half-closed: the answer is still
    in the socket's buffer, so the errors of sending are not the test's business."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_serve_never_parses_a_body_as_a_request(served: tuple[Any, int]) -> None:
    """A GET whose body holds a second request gets exactly one response."""
    _, port = served
    smuggled = f"GET /config/{KEY_A} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    raw = (
        f"GET /config/nope HTTP/1.1\r\nHost: x\r\nContent-Length: {len(smuggled)}\r\n\r\n".encode()
        + smuggled
    )
    answer = exchange(port, raw)
    assert answer.count(b"HTTP/1.1 ") == 1 and answer.startswith(b"HTTP/1.1 400")


def test_serve_closes_a_trickling_connection(served: tuple[Any, int]) -> None:
    """A client sending a byte a second is cut off at the connection deadline."""
    _, port = served
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    started = time.monotonic()
    closed = False
    try:
        for byte in b"GET /config/" + KEY_A.encode() * 10:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.5)
            if time.monotonic() - started > 8:
                break
        if not closed:
            sock.settimeout(3)
            closed = sock.recv(10) == b""
    except OSError:
        closed = True
    finally:
        sock.close()
    assert closed and time.monotonic() - started < 8


def test_a_ctrl_c_while_a_connection_is_handed_over_stops_the_server() -> None:
    """A Ctrl-C that lands once a connection's thread has started (and freed its slot)
    reaches the caller: `serve` and `receive` stop. It was turned into a ValueError (the
    slot released twice), which socketserver logs and swallows, and they kept running."""
    served = threading.Event()

    class LateInterrupt(ThreadingHTTPServer):
        def process_request(self, request: Any, client_address: Any) -> None:
            super().process_request(request, client_address)  # the thread starts
            served.wait(5)  # it answers and frees its slot
            raise KeyboardInterrupt  # then the Ctrl-C lands

    class Server(BoundedServer, LateInterrupt):
        def process_request_thread(self, request: Any, client_address: Any) -> None:
            try:
                super().process_request_thread(request, client_address)
            finally:
                served.set()

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = Server(("127.0.0.1", 0), Answer)
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            with pytest.raises(KeyboardInterrupt):
                server.handle_request()  # socketserver's loop, one turn
            assert client.recv(100).startswith(b"HTTP/1.0 204")
    finally:
        server.server_close()


def test_serve_caps_connections_and_keeps_answering(served: tuple[Any, int]) -> None:
    """Slow requests holding every place: one more connection gets 503 at once; once they
    go, requests are served. (A connection that has sent nothing gives its place up:
    test_serve_limits.py.)"""
    _, port = served
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    for sock in idle:
        sock.sendall(b"GET /con")  # and nothing more
    time.sleep(0.2)
    try:
        assert exchange(port, b"GET /config/x HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
            b"HTTP/1.1 503"
        )
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.3)
    request = f"GET /config/{KEY_A} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    assert exchange(port, request).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("path", ["/config//{k}", "/CONFIG/{k}", "config/{k}", "/config\\{k}"])
def test_serve_logs_no_key_on_odd_paths(
    served: tuple[Any, int], path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With -v, however the path is spelled, the log line shows a label, never the key."""
    _, port = served
    caplog.set_level("INFO", logger="publisher")
    exchange(
        port,
        f"GET {path.format(k=KEY_A)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    time.sleep(0.1)
    assert caplog.records and KEY_A not in caplog.text


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    out = tmp_path / "pushed.json"
    server = ReceiveServer("127.0.0.1", 0, SECRET, out)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_port, out
    server.shutdown()
    server.server_close()


def signed_request(body: bytes, message_id: str | None = None) -> bytes:
    headers = sign(SECRET, body, message_id=message_id).headers
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}"
        "Connection: close\r\n\r\n"
    ).encode() + body


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n", b"411"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"9" * 4400 + b"\r\n\r\n", b"411"),
        (signed_request(b'{"timestamp":1,"overrides":{"e":{"coverage":NaN}}}'), b"400"),
        (signed_request(b'{"timestamp":1' + b"0" * 400 + b',"overrides":{}}'), b"400"),
        (signed_request(b'{"timestamp":99999999999999,"overrides":{}}'), b"400"),
        (signed_request(b'{"timestamp":1,"overrides":' + b"[" * 3000 + b"]" * 3000 + b"}"), b"400"),
    ],
    ids=["superscript-length", "huge-length", "nan", "huge-int", "huge-timestamp", "deep"],
)
def test_receive_answers_malformed_requests(
    inbox: tuple[int, Path], raw: bytes, status: bytes
) -> None:
    """Every malformed request gets a 4xx, and the server keeps answering."""
    port, out = inbox
    assert exchange(port, raw).startswith(b"HTTP/1.1 " + status)
    body = f'{{"timestamp":{int(time.time())},"overrides":{{}}}}'.encode()
    assert exchange(port, signed_request(body)).startswith(b"HTTP/1.1 200")
    assert out.read_bytes() == b'{"status":200,"overrides":{}}'


def test_receive_refuses_a_replay_after_a_restart(tmp_path: Path) -> None:
    """The newest timestamp and recent webhook-ids survive a restart: a replay is refused."""
    out = tmp_path / "pushed.json"
    now = int(time.time())
    old = f'{{"timestamp":{now - 60},"overrides":{{"e":{{"status":"draft"}}}}}}'.encode()
    new = f'{{"timestamp":{now},"overrides":{{}}}}'.encode()
    old_request = signed_request(old, "msg_old")
    for round_, (request, status) in enumerate(
        [(old_request, b"200"), (signed_request(new), b"200"), (old_request, b"409")]
    ):
        server = ReceiveServer("127.0.0.1", 0, SECRET, out)  # a new process each time
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        try:
            assert exchange(server.server_port, request).startswith(b"HTTP/1.1 " + status), round_
        finally:
            server.shutdown()
            server.server_close()
    assert out.read_bytes() == b'{"status":200,"overrides":{}}'


class _Trickle(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/304":
            self.send_response(304)
            self.end_headers()
            return
        if self.path == "/ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/config/x")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/deep":
            body = b"[" * 5000 + b"]" * 5000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        for _ in range(100):
            try:
                self.wfile.write(b" ")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.2)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_pull_timeout_is_total(origin: str, tmp_path: Path) -> None:
    """A server trickling a byte every 0.2 s is given up on at --timeout, not after 20 s."""
    started = time.monotonic()
    result = run_cli("pull", f"{origin}/slow", "--out", tmp_path / "o.json", "--timeout", "1")
    assert result.exit_code == 4 and "in time" in result.stderr
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        ("/304", 4, "no saved copy"),
        ("/ftp", 4, "only http(s) is followed"),
        ("/deep", 3, "not JSON"),
    ],
)
def test_pull_refuses_what_it_cannot_keep(
    origin: str, tmp_path: Path, path: str, code: int, message: str
) -> None:
    """A 304 with nothing saved, a redirect to ftp and deeply nested JSON: no file, no traceback."""
    out = tmp_path / "o.json"
    result = run_cli("pull", f"{origin}{path}", "--out", out)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert not out.exists()


def test_pull_url_without_a_scheme_is_a_usage_error(tmp_path: Path) -> None:
    """`pull 127.0.0.1:3100/config/K` is exit 2, and the key is shown as a label."""
    result = run_cli("pull", f"127.0.0.1:3100/config/{KEY_A}", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "not an http:// or https:// URL" in result.stderr
    assert KEY_A not in result.stderr


def test_webhook_userinfo_becomes_basic_auth(tmp_path: Path) -> None:
    """A webhook URL with user:password@ is delivered with Basic auth, and shown without it."""
    seen: list[str | None] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers.get("Authorization"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    state = base_state()
    url = f"http://user:p%40ss@127.0.0.1:{server.server_port}/hook"
    state["organizations"][0]["webhooks"] = [{"url": url, "secret_env": "HOOK_S"}]
    path = dump_state(tmp_path / "s.yaml", state)
    os.environ["HOOK_S"] = SECRET
    try:
        result = run_cli("publish", path, "--target", tmp_path / "out")
    finally:
        del os.environ["HOOK_S"]
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.stderr
    assert seen == ["Basic dXNlcjpwQHNz"]  # base64("user:p@ss")
    assert "p%40ss" not in result.stdout and "user:" not in result.stdout
    assert f"acme → http://127.0.0.1:{server.server_port}: delivered" in result.stdout


# --- found beyond the list: an attacker's review and the generative tests ---------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("a{99999999999}", "too large or nested too deeply"),
        ("(" * 3000 + ")" * 3000, "too large or nested too deeply"),
    ],
)
def test_regex_that_python_cannot_compile_is_a_problem(
    tmp_path: Path, url: str, message: str
) -> None:
    """A url regex that overflows or nests too deep is a located exit 3, not a traceback."""
    text = BASE_YAML.replace(
        "        status: running", f"        url: '{url}'\n        status: running"
    )
    refused(tmp_path, yaml_text(tmp_path, text), "organizations[0].experiments[0].url", message)


def test_javascript_named_groups_are_accepted(tmp_path: Path) -> None:
    """`(?<name>...)`, the spelling the README recommends, validates and publishes."""
    text = BASE_YAML.replace(
        "        status: running", "        url: '^/(?<id>[0-9]+)$'\n        status: running"
    )
    result = run_cli("publish", yaml_text(tmp_path, text), "--target", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert b'"url":"^/(?<id>[0-9]+)$"' in (tmp_path / "out" / "config" / KEY).read_bytes()


def test_a_float_winner_is_checked_and_written_as_an_integer(tmp_path: Path) -> None:
    """winner: 5.0 is out of range like 5; winner: 1.0 publishes `"force":1`."""
    bad = BASE_YAML.replace("status: running", "status: stopped\n        winner: 5.0")
    refused(
        tmp_path,
        yaml_text(tmp_path, bad),
        "organizations[0].experiments[0].winner",
        "not a variation index",
    )
    good = BASE_YAML.replace("status: running", "status: stopped\n        winner: 1.0")
    result = run_cli("publish", yaml_text(tmp_path, good), "--target", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert b'"force":1,' in (tmp_path / "out" / "config" / KEY).read_bytes()


@pytest.mark.parametrize(
    "text",
    [
        f"version: 1\norganizations:\n  - id: a\n    api_keys: [[{{{KEY}: 1, {KEY}: 2}}]]\n",
        f"version: 1\norganizations:\n  - id: a\n    api_keys: {{grp: {{{KEY}: 1, {KEY}: 2}}}}\n",
        "version: 1\norganizations:\n  - id: a\n    api_keys:\n      - key: 12345678901234\n",
    ],
    ids=["nested-list", "nested-mapping", "number"],
)
def test_keys_in_odd_places_are_never_echoed(tmp_path: Path, text: str) -> None:
    """A key as a duplicated name in a nested shape, or a number where a key belongs."""
    state = yaml_text(tmp_path, text)
    for extra in ((), ("--json",)):
        result = run_cli("validate", state, *extra)
        assert result.exit_code == 3, result.stderr
        assert KEY not in result.stdout + result.stderr
        assert "12345678901234" not in result.stdout + result.stderr


def test_prune_keeps_a_document_another_tool_rewrote(tmp_path: Path) -> None:
    """A document publisher wrote, then another tool overwrote, is not publisher's to delete."""
    target = tmp_path / "public"
    state = base_state()
    path = dump_state(tmp_path / "s.yaml", state)
    assert run_cli("publish", path, "--target", target).exit_code == 0
    state["organizations"][1]["api_keys"] = []
    dump_state(path, state)
    assert run_cli("publish", path, "--target", target).exit_code == 0  # left in place
    (target / "config" / KEY_G).write_text("OTHER TOOL CONTENT")
    result = run_cli("publish", path, "--target", target, "--prune", "--force")
    assert result.exit_code == 0, result.stderr
    assert (target / "config" / KEY_G).read_text() == "OTHER TOOL CONTENT"
    assert (
        "1 file under config/ that publisher did not write (or that changed since)" in result.stdout
    )


def test_receive_refuses_a_replay_without_its_webhook_id(inbox: tuple[int, Path]) -> None:
    """A captured push replayed with GrowthBook's signature alone is refused (its body was seen)."""
    port, out = inbox
    now = int(time.time())
    first = f'{{"timestamp":{now},"overrides":{{"e":{{"status":"draft"}}}}}}'.encode()
    second = f'{{"timestamp":{now},"overrides":{{}}}}'.encode()
    assert exchange(port, signed_request(first)).startswith(b"HTTP/1.1 200")
    assert exchange(port, signed_request(second)).startswith(b"HTTP/1.1 200")
    headers = sign(SECRET, first).headers
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        del headers[name]
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    replay = (
        f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(first)}\r\n{head}"
        "Connection: close\r\n\r\n"
    ).encode() + first
    assert exchange(port, replay).startswith(b"HTTP/1.1 409")
    assert out.read_bytes() == b'{"status":200,"overrides":{}}'


def test_two_content_lengths_are_not_guessed_between(served: tuple[Any, int]) -> None:
    """A request with two Content-Length headers gets one answer and the connection closes."""
    _, port = served
    raw = (
        f"GET /config/{KEY_A} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        "Content-Length: 100\r\n\r\nxGET / HTTP/1.1\r\n\r\n"
    ).encode()
    assert exchange(port, raw).count(b"HTTP/1.1 ") == 1


def test_serve_answers_an_absolute_target_it_cannot_parse(served: tuple[Any, int]) -> None:
    """`GET http://[... HTTP/1.1` is a 404, not a dropped connection and a traceback."""
    _, port = served
    raw = f"GET http://[{KEY_A}/config/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert exchange(port, raw.encode()).startswith(b"HTTP/1.1 404")


@pytest.mark.parametrize(
    "url", ["http://a b/config/x", "http://127.0.0.1:1/a\u00e9", "http://[oops/"]
)
def test_pull_refuses_urls_it_cannot_fetch(tmp_path: Path, url: str) -> None:
    """A URL with a space, non-ASCII or a broken host is exit 2 or 4, never a traceback."""
    result = run_cli("pull", url, "--out", tmp_path / "o", "--timeout", "2")
    assert result.exit_code in (2, 4), result.stderr


def test_pull_labels_a_key_the_server_echoes(tmp_path: Path) -> None:
    """The server's own error words are shown with the URL's key as a label."""

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"error": f"no document for API key {self.path[8:]}"}).encode()
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/config/{KEY_A}"
        result = run_cli("pull", url, "--out", tmp_path / "o")
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 4
    assert "no document for API key key_acme…0001" in result.stderr and KEY_A not in result.stderr


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("http://[::1", "give a whole URL"),
        ("http://127.0.0.\u00e91:1", "give a whole URL"),
        ("http://admin:hunter2@127.0.0.1:1/", "no credentials, query or fragment"),
        ("http://127.0.0.1:1/?token=hunter2", "no credentials, query or fragment"),
        ("http://127.0.0.1:1/#frag", "no credentials, query or fragment"),
    ],
)
def test_endpoint_urls_are_checked(tmp_path: Path, endpoint: str, message: str) -> None:
    """Malformed endpoints, and ones carrying credentials or a query, are exit 2, never echoed."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    result = run_cli("publish", path, "--target", "s3://demo", "--endpoint-url", endpoint)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and "hunter2" not in result.stderr


def test_an_empty_target_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--target ''` (an unset variable) is exit 2, not a publish into the current directory."""
    monkeypatch.chdir(tmp_path)
    path = dump_state(tmp_path / "s.yaml", base_state())
    result = run_cli("publish", path, "--target", "")
    assert result.exit_code == 2 and "--target is empty" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_a_trickling_webhook_cannot_hold_the_publish(tmp_path: Path) -> None:
    """A receiver answering a byte at a time is given up on at the sender's timeout in all
    (urllib's was per read), so the publish releases its lock in time."""
    import publisher
    from publisher.delivery.sender import Sender
    from publisher.publishing.result import PublishIncomplete

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.5)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    state = base_state()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    state["organizations"][0]["webhooks"] = [{"url": url, "secret_env": "HOOK_S"}]
    path = dump_state(tmp_path / "s.yaml", state)
    started = time.monotonic()
    try:
        with pytest.raises(PublishIncomplete) as failed:
            publisher.publish(
                path,
                tmp_path / "out",
                publisher.PublishOptions(environ={"HOOK_S": SECRET}),
                sender=Sender(timeout=1, backoff=Backoff(1)),
            )
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - started < 10
    assert "in time" in next(iter(failed.value.result.webhooks.failed.values()))
    assert not (tmp_path / "out" / "_publisher" / "lock").exists()


def test_yaml_organizations_stream_with_every_problem_once(tmp_path: Path) -> None:
    """Organizations are checked one at a time as they are read: a text item, an alias
    repeating another, and a date each reported once, at their lines."""
    state = yaml_text(
        tmp_path,
        "version: 1\norganizations:\n  - x\n  - &o {id: a}\n  - *o\n"
        f"  - id: b\n    api_keys:\n      - key: {KEY}\n        description: 2024-01-01\n",
    )
    result = run_cli("validate", state)
    assert result.exit_code == 3
    lines = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert lines == [
        f"{state}:3: organizations[0]: expected a mapping, got str 'x'",
        f"{state}:5: organizations[2].id (a): duplicate organization id 'a': first used at index 1",
        f"{state}:9: organizations[3].api_keys[0].description: is a date or a time: quote it "
        "to make it text",
    ]
