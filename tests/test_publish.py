"""Publishing to a directory: plan, incremental writes, prune guards, lock, convergence."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import publisher
from publisher.documents.render import Document, render_documents
from publisher.errors import StorageError
from publisher.redact import key_hash, key_label
from publisher.state import load_state
from publisher.targets import LocalTarget
from publisher.targets.publish_lock import LockInfo, new_lock
from tests.conftest import KEY_A, KEY_A_CHECKOUT, KEY_G, base_state, dump_state, run_cli, tree

OLD = 1_000_000_000  # an mtime no write of this test can produce


def age(root: Path) -> None:
    """Set every file's mtime far in the past, so any rewrite shows."""
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (OLD, OLD))


def rewritten(root: Path) -> set[str]:
    return {p.name for p in (root / "config").iterdir() if p.stat().st_mtime != OLD}


def many_keys(n: int) -> dict[str, Any]:
    state = base_state()
    state["organizations"][1]["api_keys"] = [{"key": f"key_globex_{i:012d}"} for i in range(n)]
    return state


def test_cold_publish_writes_rendered_bytes(state_file: Path, tmp_path: Path) -> None:
    """Each key's file holds exactly its rendered document; nothing else is in config/."""
    target = tmp_path / "public"
    result = run_cli("publish", state_file, "--target", target)
    assert result.exit_code == 0, result.stderr
    expected = render_documents(load_state(state_file)).documents
    files = tree(target / "config")
    assert files == {k: d.body for k, d in expected.items()}
    assert "3 added" in result.stdout
    assert KEY_A not in result.stdout and KEY_G not in result.stdout


def test_change_one_experiment_rewrites_only_affected_keys(
    state_file: Path, tmp_path: Path
) -> None:
    """Only the keys whose document changed are rewritten (mtimes and bytes)."""
    target = tmp_path / "public"
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    before = tree(target / "config")
    age(target)
    state = base_state()
    state["organizations"][0]["experiments"][1]["phases"][0]["coverage"] = 0.75  # checkout project
    dump_state(state_file, state)
    result = run_cli("publish", state_file, "--target", target)
    assert result.exit_code == 0, result.stderr
    assert rewritten(target) == {KEY_A, KEY_A_CHECKOUT}
    after = tree(target / "config")
    assert after[KEY_G] == before[KEY_G]
    assert after[KEY_A] != before[KEY_A]
    assert json.loads(after[KEY_A_CHECKOUT])["overrides"]["exp-checkout"]["coverage"] == 0.75
    assert "2 changed, 0 deleted, 1 unchanged" in result.stdout


def test_republish_without_change_rewrites_nothing(state_file: Path, tmp_path: Path) -> None:
    """A publish with no change writes no file at all, bookkeeping included."""
    target = tmp_path / "public"
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    age(target)
    before = tree(target)
    result = run_cli("publish", state_file, "--target", target)
    assert result.exit_code == 0
    assert "Nothing to upload" in result.stdout
    assert rewritten(target) == set()
    assert tree(target) == before
    changed = [p for p in target.rglob("*") if p.is_file() and p.stat().st_mtime != OLD]
    assert changed == []


def test_revoked_key_deleted_only_with_prune(state_file: Path, tmp_path: Path) -> None:
    """Without --prune a revoked key's document stays (and the output says so); --prune deletes it."""
    target = tmp_path / "public"
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    state = many_keys(3)
    state["organizations"][1]["api_keys"].append({"key": KEY_G, "revoked": True})
    dump_state(state_file, state)
    kept = run_cli("publish", state_file, "--target", target)
    assert kept.exit_code == 0
    assert (target / "config" / KEY_G).exists()
    assert "pass --prune to delete it" in kept.stdout
    pruned = run_cli("publish", state_file, "--target", target, "--prune")
    assert pruned.exit_code == 0, pruned.stderr
    assert not (target / "config" / KEY_G).exists()
    assert "1 deleted" in pruned.stdout
    assert "revoked; deleted" in pruned.stdout


def test_removed_key_deleted_with_prune(state_file: Path, tmp_path: Path) -> None:
    """A key gone from the state loses its document on --prune; the others stay."""
    target = tmp_path / "public"
    dump_state(state_file, many_keys(4))
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    state = many_keys(4)
    state["organizations"][1]["api_keys"].pop()
    dump_state(state_file, state)
    assert run_cli("publish", state_file, "--target", target, "--prune").exit_code == 0
    assert not (target / "config" / "key_globex_000000000003").exists()
    assert (target / "config" / "key_globex_000000000002").exists()


def test_max_deletes_guard_refuses_and_writes_nothing(state_file: Path, tmp_path: Path) -> None:
    """Deletes over --max-deletes refuse the whole publish (exit 3) unless --force."""
    target = tmp_path / "public"
    dump_state(state_file, many_keys(6))
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    before = tree(target)
    state = many_keys(4)
    state["organizations"][0]["experiments"][0]["status"] = "draft"  # a change to put, too
    dump_state(state_file, state)
    refused = run_cli("publish", state_file, "--target", target, "--prune", "--max-deletes", "1")
    assert refused.exit_code == 3
    assert "refusing to delete 2 documents, more than --max-deletes 1" in refused.stderr
    assert tree(target) == before
    forced = run_cli(
        "publish", state_file, "--target", target, "--prune", "--max-deletes", "1", "--force"
    )
    assert forced.exit_code == 0
    assert len(list((target / "config").iterdir())) == 6


def test_half_guard_refuses_mass_delete(state_file: Path, tmp_path: Path) -> None:
    """A plan deleting more than half of the live documents is refused unless --force."""
    target = tmp_path / "public"
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    state = base_state()
    state["organizations"] = state["organizations"][1:]  # drops 2 of 3 keys
    dump_state(state_file, state)
    refused = run_cli("publish", state_file, "--target", target, "--prune")
    assert refused.exit_code == 3
    assert "refusing to delete 2 of 3 live documents (more than half)" in refused.stderr
    assert len(list((target / "config").iterdir())) == 3
    dry = run_cli("publish", state_file, "--target", target, "--prune", "--dry-run")
    assert dry.exit_code == 3
    assert "would be refused" in dry.stdout
    assert run_cli("publish", state_file, "--target", target, "--prune", "--force").exit_code == 0
    assert [p.name for p in (target / "config").iterdir()] == [KEY_G]


def test_dry_run_prints_plan_and_changes_nothing(state_file: Path, tmp_path: Path) -> None:
    """--dry-run lists added, changed (with the experiment difference) and deleted keys."""
    target = tmp_path / "public"
    first = run_cli("publish", state_file, "--target", target, "--dry-run")
    assert first.exit_code == 0
    assert not target.exists()
    assert "3 added" in first.stdout
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    before = tree(target)
    state = base_state()
    exps = state["organizations"][0]["experiments"]
    exps[0]["phases"][0]["weights"] = [0.3, 0.7]
    exps.append({"key": "exp-new", "status": "draft", "variations": ["a", "b"]})
    state["organizations"][1]["api_keys"][0]["revoked"] = True
    dump_state(state_file, state)
    result = run_cli("publish", state_file, "--target", target, "--dry-run")
    assert result.exit_code == 0
    assert tree(target) == before
    assert (
        "acme/key_acme…0001 (prod): exp-a: weights [0.5,0.5] → [0.3,0.7]; exp-new: added"
        in result.stdout
    )
    assert "key_acme…0002" not in result.stdout  # a checkout key does not see exp-new
    assert "globex/key_glob…0003: revoked; left in place (no --prune)" in result.stdout
    assert "0 added, 1 changed, 1 left in place, 1 unchanged" in result.stdout
    as_json = json.loads(run_cli("publish", state_file, "--target", target, "-n", "--json").stdout)
    assert as_json["dry_run"] is True
    assert as_json["counts"]["changed"] == 1
    changed = next(c for c in as_json["changes"] if c["key_label"] == key_label(KEY_A))
    assert {"experiment": "exp-new", "kind": "added", "fields": []} in changed["changes"]


def test_lock_held_exits_5_naming_holder(state_file: Path, tmp_path: Path) -> None:
    """A live lock of another publisher: exit 5 with host, pid and since when; nothing written."""
    target = tmp_path / "public"
    (target / "_publisher").mkdir(parents=True)
    holder = new_lock(600)  # this (live) test process on this host
    (target / "_publisher" / "lock").write_bytes(holder.encode())
    result = run_cli("publish", state_file, "--target", target)
    assert result.exit_code == 5
    assert f"pid {holder.pid}" in result.stderr and holder.host in result.stderr
    assert "since" in result.stderr
    assert not (target / "config").exists()
    assert (target / "_publisher" / "lock").read_bytes() == holder.encode()


def test_stale_lock_of_dead_process_is_taken_over(state_file: Path, tmp_path: Path) -> None:
    """A lock left by a process that died (kill -9) does not block the next publish."""
    target = tmp_path / "public"
    (target / "_publisher" / "tmp").mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = new_lock(600)
    stale = type(stale)(
        stale.host, int(dead.stdout), stale.token, stale.started_at, stale.expires_at
    )
    (target / "_publisher" / "lock").write_bytes(stale.encode())
    (target / "_publisher" / "tmp" / "half-written").write_bytes(b'{"status":2')
    result = run_cli("publish", state_file, "--target", target)
    assert result.exit_code == 0, result.stderr
    assert not (target / "_publisher" / "lock").exists()
    assert list((target / "_publisher" / "tmp").iterdir()) == []


def test_expired_lock_is_taken_over(state_file: Path, tmp_path: Path) -> None:
    """A lock past its expiry (a crashed publisher elsewhere) is taken over."""
    target = tmp_path / "public"
    (target / "_publisher").mkdir(parents=True)
    expired = new_lock(600, now=1000.0)
    expired = type(expired)(
        "another-host", 1, expired.token, expired.started_at, expired.expires_at
    )
    (target / "_publisher" / "lock").write_bytes(expired.encode())
    assert run_cli("publish", state_file, "--target", target).exit_code == 0


def test_a_lock_that_claims_to_last_for_ages_is_taken_over(
    state_file: Path, tmp_path: Path
) -> None:
    """A lock of another host expiring in the year 5138 (a forged or broken lock, or a
    crashed run's with a huge --lock-ttl) blocks nothing; --lock-ttl itself is at most
    a day (exit 2 beyond)."""
    target = tmp_path / "public"
    (target / "_publisher").mkdir(parents=True)
    forged = LockInfo("another-host", 1, "t", 0.0, 99_999_999_999.0)
    (target / "_publisher" / "lock").write_bytes(forged.encode())
    done = run_cli("publish", state_file, "--target", target, "--lock-ttl", "10")
    assert done.exit_code == 0, done.stderr
    assert (target / "config" / KEY_A).is_file()
    long = run_cli("publish", state_file, "--target", target, "--lock-ttl", "86401")
    assert long.exit_code == 2 and "--lock-ttl" in long.stderr


class FailingTarget(LocalTarget):
    """A directory target whose puts fail after `ok` successful writes (a crash part-way)."""

    def __init__(self, root: Path, ok: int) -> None:
        super().__init__(root, concurrency=1)
        self.ok = ok
        self.puts = 0

    def put_document(self, key: str, document: Document) -> None:
        if self.puts >= self.ok:
            raise StorageError("injected failure: disk full")
        self.puts += 1
        super().put_document(key, document)


def test_crash_part_way_converges_on_rerun(state_file: Path, tmp_path: Path) -> None:
    """A publish that fails after 4 writes exits 4 without deleting; the re-run finishes only the rest."""
    target = tmp_path / "public"
    dump_state(state_file, many_keys(10))
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    state = many_keys(10)
    state["organizations"][1]["experiments"][0]["status"] = "running"
    state["organizations"][1]["experiments"][0]["phases"] = [{"coverage": 1, "weights": [0.1, 0.9]}]
    state["organizations"][0]["api_keys"].pop()  # KEY_A_CHECKOUT: a delete with --prune
    dump_state(state_file, state)
    age(target)
    options = publisher.PublishOptions(prune=True)
    with pytest.raises(StorageError) as failed:
        publisher.publish(state_file, FailingTarget(target, ok=4), options)
    assert "6 of 10 documents failed to upload" in failed.value.message
    assert "nothing was deleted" in failed.value.message
    assert len(failed.value.result.failed_uploads) == 6  # each key; one line per cause
    assert [p.location for p in failed.value.problems] == ["6 documents"]
    assert (target / "config" / KEY_A_CHECKOUT).exists()  # no delete in a failed run
    assert not (target / "_publisher" / "lock").exists()
    first_batch = rewritten(target)
    assert len(first_batch) == 4
    age(target)
    result = run_cli("publish", state_file, "--target", target, "--prune")
    assert result.exit_code == 0, result.stderr
    assert len(rewritten(target)) == 6
    assert rewritten(target).isdisjoint(first_batch)
    assert not (target / "config" / KEY_A_CHECKOUT).exists()
    expected = render_documents(load_state(state_file)).documents
    assert tree(target / "config") == {k: d.body for k, d in expected.items()}


def test_storage_failure_exits_4_via_cli(state_file: Path, tmp_path: Path) -> None:
    """A document that cannot be written exits 4 naming the key's label, with no traceback."""
    target = tmp_path / "public"
    dump_state(state_file, many_keys(2))
    (target / "config" / "key_globex_000000000001").mkdir(parents=True)  # blocks the rename
    result = run_cli("publish", state_file, "--target", target)
    assert result.exit_code == 4
    assert "1 of 4 documents failed to upload" in result.stderr
    assert "1 document: cannot write the document: Is a directory (key_glob…0001)" in result.stderr
    assert "key_globex_000000000001" not in result.stderr
    assert "Traceback" not in result.stderr
    assert (target / "config" / "key_globex_000000000000").is_file()


def test_target_that_is_a_file_is_a_usage_error(state_file: Path, tmp_path: Path) -> None:
    """--target naming a file exits 2 and writes nothing."""
    target = tmp_path / "file"
    target.write_text("x")
    result = run_cli("publish", state_file, "--target", target)
    assert result.exit_code == 2
    assert "is not a directory" in result.stderr
    assert target.read_text() == "x"


def test_manifest_records_generation_without_raw_keys(state_file: Path, tmp_path: Path) -> None:
    """The manifest maps sha256(key) to sha256(document); no raw key appears under _publisher/."""
    target = tmp_path / "public"
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    manifest = json.loads((target / "_publisher" / "manifest.json").read_bytes())
    docs = render_documents(load_state(state_file)).documents
    assert manifest["generation"] == 1
    salt = manifest["salt"]
    assert len(salt) == 32 and manifest["format"] == 3
    assert manifest["documents"] == {key_hash(k, salt): d.sha256 for k, d in docs.items()}
    unsalted = {hashlib.sha256(k.encode()).hexdigest() for k in docs}
    for path in (target / "_publisher").rglob("*"):
        if path.is_file():
            assert not any(h.encode() in path.read_bytes() for h in unsalted), path
    assert manifest["counts"]["added"] == 3
    assert len(manifest["state_sha256"]) == 64
    for path in (target / "_publisher").rglob("*"):
        if path.is_file():
            body = path.read_bytes()
            assert all(k.encode() not in body for k in (KEY_A, KEY_A_CHECKOUT, KEY_G)), path
    assert (target / "_publisher" / "generations" / "00000001.json").exists()


def test_readers_never_see_a_partial_document(tmp_path: Path) -> None:
    """While documents are rewritten, a concurrent reader only ever sees a whole document."""
    target = tmp_path / "public"
    big = base_state()
    big["organizations"][0]["experiments"] += [
        {"key": f"exp-{i}", "status": "draft", "variations": ["a", "b"], "url": "^/x" * 200}
        for i in range(200)
    ]
    states = [base_state(), big]
    files = [dump_state(tmp_path / f"s{i}.yaml", s) for i, s in enumerate(states)]
    expected = {render_documents(load_state(f)).documents[KEY_A].body for f in files}
    publisher.publish(files[0], target)
    seen: list[bytes] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append((target / "config" / KEY_A).read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(20):
            publisher.publish(files[(i + 1) % 2], target)
    finally:
        stop.set()
        reader.join()
    assert seen
    assert set(seen) <= expected


def test_library_publish_returns_a_result(state_file: Path, tmp_path: Path) -> None:
    """publisher.publish works without the CLI and returns the plan it applied."""
    result = publisher.publish(state_file, tmp_path / "out")
    assert result.plan.count("added") == 3
    assert result.generation == 1
    assert not result.dry_run


def test_noop_takes_no_lock(state_file: Path, tmp_path: Path) -> None:
    """A publish with nothing to change exits 0 even while another publisher holds the lock."""
    target = tmp_path / "public"
    assert run_cli("publish", state_file, "--target", target).exit_code == 0
    holder = new_lock(600)
    (target / "_publisher" / "lock").write_bytes(holder.encode())
    age(target)
    result = run_cli("publish", state_file, "--target", target)
    assert result.exit_code == 0
    assert "Nothing to upload" in result.stdout
    assert [p for p in target.rglob("*") if p.is_file() and p.stat().st_mtime != OLD] == []
    dump_state(state_file, many_keys(1))
    assert run_cli("publish", state_file, "--target", target).exit_code == 5
