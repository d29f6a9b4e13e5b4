"""The command line a user of aws s3 sync, rclone and hugo deploy expects: output, progress,
JSON and help."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import typer

from publisher.cli import app
from publisher.servers.serve import make_server
from publisher.settings import DEFAULT_CACHE_CONTROL
from tests.conftest import KEY_A, base_state, dump_state, run_cli, write_yaml
from tests.s3util import CREDENTIALS, Proxy, moto_server, s3_client


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def many_keys(count: int) -> dict[str, Any]:
    state = base_state()
    state["organizations"][1]["api_keys"] = [{"key": f"key_globex_{i:020d}"} for i in range(count)]
    return state


# --- a partial failure shows what happened ------------------------------------------------


def test_failed_purge_prints_the_summary_then_the_error(tmp_path: Path) -> None:
    """Exit 4 (purge failed): the same summary as a success on stdout, the error on stderr."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    args = ("--target", tmp_path / "out", "--cdn", "http-purge")
    result = run_cli("publish", path, *args, "--purge-url", f"http://127.0.0.1:{dead_port()}")
    assert result.exit_code == 4
    assert result.stdout.startswith("Published, with errors, 3 documents (3 distinct) to ")
    assert "3 added, 0 changed, 0 deleted, 0 unchanged" in result.stdout
    assert "Generation 1 recorded" in result.stdout
    assert "The CDN purge failed: the next publish retries it" in result.stdout
    assert result.stderr.startswith("error: the documents are published, but the CDN purge")


def test_json_has_one_shape_on_success_and_failure(tmp_path: Path) -> None:
    """--json on exit 4 is the success object with ok false and the failure in its own fields."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    ok = run_cli("publish", path, "--target", tmp_path / "a", "--json")
    assert ok.exit_code == 0 and ok.stdout.count("\n") == 1  # one line, as every --json
    good = json.loads(ok.stdout)
    args = ("--target", tmp_path / "b", "--cdn", "http-purge", "--json")
    failed = run_cli("publish", path, *args, "--purge-url", f"http://127.0.0.1:{dead_port()}")
    assert failed.exit_code == 4 and failed.stdout.count("\n") == 1
    bad = json.loads(failed.stdout)
    assert set(bad) == set(good)
    assert good["ok"] is True and good["exit_code"] == 0 and good["error"] is None
    assert bad["ok"] is False and bad["exit_code"] == 4
    assert bad["counts"] == {**good["counts"]} and bad["generation"] == 1
    assert len(bad["changes"]) == 3
    assert bad["purge"]["error"] and "PURGE" in bad["purge"]["error"]
    assert bad["problems"] and all(KEY_A not in p["message"] for p in bad["problems"])


def test_validate_and_keys_json_are_one_line(tmp_path: Path) -> None:
    """validate --json and keys list --json print one line, like publish --json."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    for args in (("validate", path, "--json"), ("keys", "list", path, "--json")):
        result = run_cli(*args)
        assert result.exit_code == 0 and result.stdout.count("\n") == 1
        json.loads(result.stdout)


# --- the dry run -----------------------------------------------------------------------


def test_dry_run_says_what_it_would_purge(tmp_path: Path) -> None:
    """With a CDN, the dry run says what it would purge (never naming a key)."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    edge = f"http://127.0.0.1:{dead_port()}"
    result = run_cli(
        "publish", path, "--dry-run", "--cdn", "http-purge", "--purge-url", edge, "--target",
        tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 0
    assert f"The CDN purge would send 3 PURGE requests (3 per edge) to {edge}" in result.stdout
    front = run_cli(
        "publish", path, "--dry-run", "--cdn", "cloudfront", "--distribution-id", "E2EXAMPLE",
        "--invalidation-threshold", "2", "--target", tmp_path / "out", "--json",
    )  # fmt: skip
    assert front.exit_code == 0, front.stderr
    would = json.loads(front.stdout)["purge"]["would"]
    assert would.startswith("invalidate /config/* on CloudFront distribution E2EXAMPLE")
    assert not (tmp_path / "out").exists()


def test_dry_run_counts_deletes_only_with_prune_and_lists_twenty(tmp_path: Path) -> None:
    """Without --prune a gone key is 'left in place'; 25 changes show 20 lines and a hint."""
    target = tmp_path / "out"
    path = dump_state(tmp_path / "s.yaml", many_keys(3))
    assert run_cli("publish", path, "--target", target).exit_code == 0
    state = many_keys(25)
    state["organizations"][0]["api_keys"][0]["revoked"] = True
    dump_state(path, state)
    plain = run_cli("publish", path, "--target", target, "--dry-run")
    assert "22 added, 0 changed, 1 left in place, 4 unchanged" in plain.stdout
    assert "revoked; left in place (no --prune)" in plain.stdout
    assert "… and 3 more (--list-all or --json lists all)" in plain.stdout
    listed = [line for line in plain.stdout.splitlines() if line.startswith(("  +", "  ~", "  -"))]
    assert len(listed) == 20
    pruned = run_cli("publish", path, "--target", target, "--dry-run", "--prune")
    assert "22 added, 0 changed, 1 to delete, 4 unchanged" in pruned.stdout
    assert "revoked; would be deleted" in pruned.stdout
    every = run_cli("publish", path, "--target", target, "--dry-run", "--list-all")
    assert "more (--list-all" not in every.stdout


# --- progress ----------------------------------------------------------------------------


def run_on_terminal(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal; return (exit code, stdout, terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "publisher", *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
    )
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read().decode() if proc.stdout else ""
    code = proc.wait(timeout=60)
    os.close(master)
    return code, out, seen.decode(errors="replace")


def test_progress_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal: the phases with done/total; --quiet silences it; NO_COLOR has no colour."""
    path = dump_state(tmp_path / "s.yaml", many_keys(300))
    code, out, terminal = run_on_terminal(["publish", str(path), "--target", str(tmp_path / "a")])
    assert code == 0 and out.startswith("Published 302 documents")
    assert "Loading and checking the state" in terminal
    assert "Reading what is live" in terminal
    assert "Uploading documents" in terminal and "302/302" in terminal
    assert "\x1b[3" in terminal or "\x1b[38" in terminal  # colour, by default
    code, _, plain = run_on_terminal(
        ["publish", str(path), "--target", str(tmp_path / "b")], {"NO_COLOR": "1"}
    )
    assert code == 0 and "302/302" in plain and "\x1b[38" not in plain and "\x1b[3" not in plain
    code, _, quiet = run_on_terminal(["publish", str(path), "--target", str(tmp_path / "c"), "-q"])
    assert code == 0 and "Uploading" not in quiet


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    """Piped (CI logs), no progress display is drawn."""
    path = dump_state(tmp_path / "s.yaml", many_keys(50))
    run = subprocess.run(
        [sys.executable, "-m", "publisher", "publish", str(path), "--target", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0 and run.stderr == ""


def test_interrupt_says_how_far_it_got_and_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during the uploads: how many were written, nothing deleted, the lock released."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    path = dump_state(tmp_path / "s.yaml", many_keys(20))
    bucket = "interrupted"  # its own: moto's buckets live as long as the worker process
    with moto_server() as endpoint:
        client: Any = s3_client(endpoint)
        client.create_bucket(Bucket=bucket)
        proxy = Proxy(endpoint)
        proxy.gate.clear()  # document requests wait here
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "publisher", "publish", str(path), "--target",
                 f"s3://{bucket}", "--endpoint-url", proxy.url],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            # The uploads have begun: a document PUT is held at the gate. (The proxy logs
            # a request in `requests` only once answered: after the gate opens.)
            if not proxy.document_arrived.wait(timeout=30):
                proc.kill()
                raise AssertionError(f"no document request arrived: {proc.communicate()}")
            time.sleep(0.5)  # the other uploads reach the gate too
            proc.send_signal(signal.SIGINT)
            proxy.gate.set()
            _, err = proc.communicate(timeout=60)
        finally:
            proxy.gate.set()
            proxy.close()
        assert proc.returncode == 130, err
        said = re.search(r"interrupted: (\d+) of 22 documents were written", err)
        assert said, err
        assert "nothing was deleted; re-run to finish" in err
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert int(said[1]) == sum(k.startswith("config/") for k in keys)  # what landed
        assert "_publisher/lock" not in keys


# --- help and hints ------------------------------------------------------------------------


def test_help_names_values_as_click_does() -> None:
    """Arguments as STATE and URL, values as TEXT, INTEGER, [a|b]; no typer-internal names."""
    publish = run_cli("publish", "--help").stdout
    assert "publish [OPTIONS] [STATE]\n" in publish
    for shown in ("--target TEXT", "--max-deletes INTEGER", "--cdn [none|cloudfront|http-purge]"):
        assert shown in publish
    for internal in ("<str>", "<int range>", "<list[str]>", "{state}", "<path>"):
        assert internal not in publish
    assert "[OPTIONS] URL" in run_cli("pull", "--help").stdout
    serve = run_cli("serve", "--help").stdout
    assert "self-hosted API did" not in serve and "--quiet" in serve


def test_a_bad_choice_reads_like_click_with_a_guess(tmp_path: Path) -> None:
    """`--cdn cloudfrnt`: Invalid value for '--cdn': ... did you mean 'cloudfront'?"""
    path = dump_state(tmp_path / "s.yaml", base_state())
    result = run_cli("publish", path, "--cdn", "cloudfrnt")
    assert result.exit_code == 2
    assert (
        "Invalid value for '--cdn': 'cloudfrnt' is not one of 'none', 'cloudfront', "
        "'http-purge', did you mean 'cloudfront'?"
    ) in result.stderr
    assert "Value error" not in result.stderr


def test_verbose_after_the_command_and_completion(tmp_path: Path) -> None:
    """`publish -v` logs the steps, each line labelled by its stage (not a module path);
    shell completion is offered."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    result = run_cli("publish", path, "--target", tmp_path / "out", "-v")
    assert result.exit_code == 0
    logged = [line for line in result.stderr.splitlines() if line.startswith("INFO ")]
    assert "INFO publishing: wrote 3 documents in " in result.stderr
    stages = {line.split(" ")[1].rstrip(":") for line in logged}
    assert stages and stages <= {"state", "documents", "publishing", "targets", "bookkeeping"}
    assert "publisher." not in result.stderr
    assert "--install-completion" in run_cli("--help").stdout
    completion = run_cli("--show-completion", "bash")
    assert completion.exit_code == 0 and "complete" in completion.stdout


def test_validate_speaks_of_validation_with_names_and_guesses(tmp_path: Path) -> None:
    """validate never says 'published'; a bad status gets a guess; the location a name."""
    path = write_yaml(
        tmp_path / "s.yaml",
        """
        version: 1
        organizations:
          - id: acme
            experiments:
              - key: search-ranking
                status: drafted
                variations: [a, b]
        """,
    )
    result = run_cli("validate", path)
    assert result.exit_code == 3
    assert "published" not in result.stderr
    assert (
        f"{path}:6: organizations[0].experiments[0].status (acme/search-ranking): 'drafted' is "
        "not one of: draft, running, stopped; did you mean 'draft'?"
    ) in result.stderr
    assert "nothing was published" in run_cli("publish", path, "--target", tmp_path / "o").stderr


def test_revoking_twice_says_it_already_was(tmp_path: Path) -> None:
    """A second revoke of the same key changes nothing and exits 0."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    assert run_cli("keys", "revoke", path, KEY_A).exit_code == 0
    before = path.read_bytes()
    again = run_cli("keys", "revoke", path, KEY_A)
    assert again.exit_code == 0 and "was already revoked" in again.stdout
    assert path.read_bytes() == before


def test_serve_logs_one_line_per_request(tmp_path: Path) -> None:
    """Time, client, request (key as a label), status, bytes, duration; no trailing space in Server."""
    root = tmp_path / "public"
    (root / "config").mkdir(parents=True)
    (root / "config" / KEY_A).write_bytes(b'{"status":200,"overrides":{}}')
    lines: list[str] = []
    server = make_server(root, "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    server.access_log = lines.append
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/config/{KEY_A}") as r:
            assert r.headers["Server"] == "publisher"
    finally:
        server.shutdown()
        server.server_close()
    assert len(lines) == 1
    stamp, client, rest = lines[0].split(" ", 2)
    assert stamp.endswith("Z") and client == "127.0.0.1"
    assert rest.startswith('"GET /config/key_acme…0001 HTTP/1.1" 200 29 ')
    assert rest.endswith("ms") and KEY_A not in lines[0]


def test_receive_logs_a_rejected_push(tmp_path: Path) -> None:
    """Whoever runs `receive` sees a 401 in its log; --quiet turns the log off."""
    port = dead_port()
    env = {**os.environ, "RECV_SECRET": "s3cret"}
    command = [sys.executable, "-m", "publisher", "receive", "--out", str(tmp_path / "o.json"),
               "--secret-env", "RECV_SECRET", "--port", str(port)]  # fmt: skip
    for quiet in (False, True):
        proc = subprocess.Popen(
            command + (["--quiet"] if quiet else []), env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            assert proc.stderr is not None and "Receiving at" in proc.stderr.readline()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"{}", method="POST")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401
            if not quiet:  # the log line follows the answer: wait for it, not for a clock
                killer = threading.Timer(10, proc.kill)
                killer.start()
                seen = next((line for line in proc.stderr if " 401 " in line), "")
                killer.cancel()
                assert '"POST / HTTP/1.1" 401' in seen
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()  # failed: not left running after the test
                proc.communicate()
                raise
        if quiet:
            assert '"POST / HTTP/1.1" 401' not in err


def test_pull_says_there_is_no_copy_and_what_the_server_said(tmp_path: Path) -> None:
    """A first fetch that fails says there is no copy yet; a 400 carries the server's words."""
    root = tmp_path / "public"
    (root / "config").mkdir(parents=True)
    server = make_server(root, "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/config/{KEY_A}"
        result = run_cli("pull", url, "--out", tmp_path / "o.json", "--max-stale", "60")
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 4
    assert "answered HTTP 400 (Invalid API key); there is no last good copy yet" in result.stderr
    assert "over --max-stale" not in result.stderr


# --- options every command shares ------------------------------------------------------


def every_command() -> dict[str, Any]:
    """Each command of the app (keys and webhooks' too) by its full name."""
    found: dict[str, Any] = {}

    def walk(group: Any, prefix: str) -> None:
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                walk(command, f"{prefix}{name} ")
            else:
                found[f"{prefix}{name}"] = command

    walk(typer.main.get_command(app), "")
    return found


def test_every_command_takes_verbose_and_quiet() -> None:
    """-v/--verbose and -q/--quiet are options of every command, as of the app itself."""
    for name, command in every_command().items():
        options = {opt for param in command.params for opt in param.opts}
        assert {"-v", "--verbose", "-q", "--quiet"} <= options, name


def test_a_short_option_means_one_thing_everywhere() -> None:
    """Each short option stands for the same long option in every command that has it
    (`pull --out` is also `--output`, as -o is everywhere else)."""
    meanings: dict[str, list[set[str]]] = {}
    for command in every_command().values():
        for param in (p for p in command.params if p.param_type_name == "option"):
            longs = {o for o in param.opts if o.startswith("--")}
            for short in (o for o in param.opts if not o.startswith("--")):
                meanings.setdefault(short, []).append(longs)
    shared = {short: set.intersection(*longs) for short, longs in meanings.items()}
    assert {short for short, longs in shared.items() if len(longs) != 1} == set()
    assert shared["-n"] == {"--dry-run"} and shared["-o"] == {"--output"}
    assert shared["-t"] == {"--target"} and shared["-q"] == {"--quiet"}


def test_quiet_and_verbose_before_or_after_any_command(tmp_path: Path) -> None:
    """`publisher -q publish` and `publisher publish -q` both work, as -v does."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    target = tmp_path / "out"
    before = run_cli("-q", "publish", path, "--target", target)
    assert before.exit_code == 0, before.stderr
    assert before.stdout.startswith("Published 3 documents") and before.stderr == ""
    after = run_cli("history", "--target", target, "-q")
    assert after.exit_code == 0 and after.stdout.startswith("gen  time (UTC)")
    logged = run_cli("-v", "validate", path)
    assert logged.exit_code == 0 and "INFO publishing: loaded the state in " in logged.stderr
    assert "INFO " in run_cli("validate", path, "-v").stderr
    assert "INFO " not in run_cli("validate", path).stderr  # -v does not outlive its run


def test_no_help_names_a_document_that_does_not_ship() -> None:
    """No help text and no README line refers to the SPEC (it is not shipped)."""
    for name in every_command():
        shown = run_cli(*name.split(), "--help")
        assert shown.exit_code == 0 and "SPEC" not in shown.stdout, name
    assert "SPEC" not in run_cli("--help").stdout
    assert "SPEC" not in (Path(__file__).resolve().parent.parent / "README.md").read_text()
