"""A dry run says what the run would do, refusals included: a purge left pending with no
CDN to retry it stops a dry run as it stops the publish (exit 4, the same line), unless
--ignore-pending-purge."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.conftest import base_state, dump_state, run_cli


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_dry_run_stops_at_a_pending_purge_as_the_publish_does(tmp_path: Path) -> None:
    state = base_state()
    path = dump_state(tmp_path / "s.yaml", state)
    target = tmp_path / "public"
    assert run_cli("publish", path, "--target", target).exit_code == 0
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.5
    dump_state(path, state)
    failed = run_cli(
        "publish", path, "--target", target, "--cdn", "http-purge", "--purge-url", dead_url()
    )
    assert failed.exit_code == 4  # the documents are live; the purge is pending
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.6
    dump_state(path, state)

    real = run_cli("publish", path, "--target", target)
    dry = run_cli("publish", path, "--target", target, "--dry-run")
    planned = run_cli("publish", path, "--target", target, "--dry-run", "--exit-code")
    assert real.exit_code == dry.exit_code == planned.exit_code == 4, dry.stdout
    assert real.stderr == dry.stderr == planned.stderr
    assert "is pending from an earlier publish" in dry.stderr
    going_on = run_cli(
        "publish", path, "--target", target, "--dry-run", "--exit-code", "--ignore-pending-purge"
    )
    assert going_on.exit_code == 1, going_on.stderr  # changes pending, nothing refused
