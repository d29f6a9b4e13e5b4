"""A dry run says what the run would do, refusals included: a purge left pending with no
CDN to retry it stops a dry run as it stops the publish (exit 4, the same line), unless
--ignore-pending-purge. And a pending purge that can no longer be retried is said and
cleared, not kept to stop every publish."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KEY_A, KEY_A_CHECKOUT, KEY_G, base_state, dump_state, run_cli


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


def globex_purge_pending(tmp_path: Path) -> tuple[dict[str, Any], Path, Path]:
    """A published state whose next change (globex's draft starts) was published with a
    purge that failed: (the state, its file, the target), globex's key pending."""
    state = base_state()
    path = dump_state(tmp_path / "s.yaml", state)
    target = tmp_path / "public"
    assert run_cli("publish", path, "--target", target).exit_code == 0
    state["organizations"][1]["experiments"][0].update(
        status="running", phases=[{"coverage": 0.5, "weights": [0.5, 0.5]}]
    )
    dump_state(path, state)
    cdn = ("--cdn", "http-purge", "--purge-url", dead_url())
    assert run_cli("publish", path, "--target", target, *cdn).exit_code == 4
    return state, path, target


def test_a_pending_purge_of_a_key_no_longer_known_does_not_wedge_the_target(
    tmp_path: Path, purges: tuple[str, list[str]]
) -> None:
    """A purge failed for a key that the state then drops (its document left in place): the
    next publish with the CDN cannot name that path; it says so in one line and clears it,
    and a publish without the CDN is not stopped by it for good."""
    edge, seen = purges
    state, path, target = globex_purge_pending(tmp_path)
    cdn = ("--cdn", "http-purge", "--purge-url")
    state["organizations"] = state["organizations"][:1]  # globex leaves the state
    dump_state(path, state)

    planned = run_cli("publish", path, "--target", target, *cdn, edge, "--dry-run")
    assert planned.exit_code == 0, planned.stderr  # the dry run says it too
    assert "a failed purge left 1 path pending for keys no longer in the state" in planned.stderr
    cleared = run_cli("publish", path, "--target", target, *cdn, edge)
    assert cleared.exit_code == 0, cleared.stderr
    assert "a failed purge left 1 path pending for keys no longer in the state" in cleared.stderr
    assert "purge them at the CDN by hand" in cleared.stderr
    assert KEY_G not in cleared.stderr + cleared.stdout
    assert seen == []  # nothing to name, nothing changed
    after = run_cli("publish", path, "--target", target)
    assert after.exit_code == 0, after.stderr


def test_a_failed_purge_still_waits_for_the_edges(
    tmp_path: Path, purges: tuple[str, list[str]]
) -> None:
    """One of two purge URLs fails (exit 4, pending): the documents are live, so
    --wait-edge still says what the edge serves (here `publisher serve` of the target,
    fresh at once) in the text and in --json."""
    import threading

    from publisher.servers.serve import make_server
    from publisher.settings import DEFAULT_CACHE_CONTROL

    edge_purge, seen = purges
    state = base_state()
    path = dump_state(tmp_path / "s.yaml", state)
    target = tmp_path / "public"
    assert run_cli("publish", path, "--target", target).exit_code == 0
    server = make_server(target, "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    edge = f"http://127.0.0.1:{server.server_port}"
    try:
        state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.5
        dump_state(path, state)
        ran = run_cli(
            "publish", path, "--target", target, "--cdn", "http-purge",
            "--purge-url", edge_purge, "--purge-url", dead_url(),
            "--wait-edge", edge, "--wait-timeout", "5", "--json",
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert ran.exit_code == 4, ran.stderr
    assert "the CDN purge of 1 path failed" in ran.stderr
    (waited,) = json.loads(ran.stdout)["edges"]
    assert waited["edge"] == edge and waited["fresh"] == 1 and waited["stale"] == []
    assert seen == [f"/config/{KEY_A}"]  # the edge that answered was purged


def test_a_repaired_drift_is_no_new_generation_and_says_so(tmp_path: Path) -> None:
    """A document deleted by hand and written back by a full scan: the generation that
    records it stays live, and the output says so instead of "recorded"."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    target = tmp_path / "public"
    assert run_cli("publish", path, "--target", target).exit_code == 0
    (target / "config" / KEY_A).unlink()
    repaired = run_cli("publish", path, "--target", target, "--full-scan")
    assert repaired.exit_code == 0, repaired.stderr
    assert "Generation 1 stays live" in repaired.stdout and "drift repaired" in repaired.stdout
    assert "recorded in" not in repaired.stdout
    as_json = run_cli("publish", path, "--target", target, "--full-scan", "--json")
    assert json.loads(as_json.stdout)["generation"] == 1
    history = json.loads(run_cli("history", "--target", target, "--json").stdout)
    assert [g["generation"] for g in history] == [1]


def _damage(kind: str, path: Path, target: Path) -> None:
    meta = target / "_publisher"
    if kind == "manifest-garbage":  # read as none: a new salt names no pending hash
        (meta / "manifest.json").write_text("garbage")
    elif kind == "manifest-rebuilt":  # gone, and rebuilt (a new salt) by a publish
        (meta / "manifest.json").unlink()
        going = ("--target", target, "--ignore-pending-purge")
        assert run_cli("publish", path, *going).exit_code == 0
    elif kind == "pending-garbage":
        (meta / "pending-purge.json").write_text('{"keys":[')
    else:  # a FIFO: not read, not regular
        (meta / "pending-purge.json").unlink()
        os.mkfifo(meta / "pending-purge.json")


@pytest.mark.parametrize(
    "kind", ["manifest-garbage", "manifest-rebuilt", "pending-garbage", "pending-fifo"]
)
def test_a_pending_purge_that_cannot_be_named_covers_every_document(
    tmp_path: Path, purges: tuple[str, list[str]], kind: str
) -> None:
    """A purge failed for a key still in the state, then its record cannot be read, or the
    manifest whose salt named its keys is lost: the pending purge is not forgotten (the
    edge would go on serving the old document). Without a CDN the publish stops (exit 4);
    with one, every document's path is purged and the record cleared."""
    edge, seen = purges
    _, path, target = globex_purge_pending(tmp_path)
    cdn = ("--cdn", "http-purge", "--purge-url")
    _damage(kind, path, target)

    stopped = run_cli("publish", path, "--target", target)
    assert stopped.exit_code == 4, stopped.stderr
    assert "a CDN purge of every document is pending" in stopped.stderr
    purged = run_cli("publish", path, "--target", target, *cdn, edge)
    assert purged.exit_code == 0, purged.stderr
    assert "taken to cover every document" in purged.stderr
    assert sorted(seen) == sorted(f"/config/{k}" for k in (KEY_A, KEY_A_CHECKOUT, KEY_G))
    assert "no longer in the state" not in purged.stderr
    after = run_cli("publish", path, "--target", target)
    assert after.exit_code == 0, after.stderr
