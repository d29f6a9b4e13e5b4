"""Organizations a complete publish already checked are not read again (state/reuse.py).

The promise: reusing them never changes the outcome. Whatever the state became, a
publish onto a target that recorded the last one leaves the very documents (and the
very errors) a publish that reads every organization gives.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from publisher.bookkeeping.manifest import MANIFEST
from publisher.publishing.run import sync_target
from publisher.settings import PublishOptions
from publisher.targets.directory import LocalTarget
from tests.conftest import run_cli, tree
from tests.test_properties import JSON_MUTATIONS, states

REUSED = "organizations unchanged since they were published"


def _docs(target: Path) -> dict[str, bytes]:
    return {k: v for k, v in tree(target).items() if k.startswith("config/")}


def _write(path: Path, state: dict[str, Any], indent: int | None = None) -> Path:
    path.write_text(json.dumps(state, indent=indent, ensure_ascii=False), encoding="utf-8")
    return path


def _org_state(orgs: int = 6, keys: int = 3) -> dict[str, Any]:
    return {
        "version": 1,
        "organizations": [
            {
                "id": f"org-{o}",
                "api_keys": [{"key": f"key_{o:04d}{k:04d}abcdefgh"} for k in range(keys)],
                "experiments": [
                    {
                        "key": "exp-a",
                        "status": "running",
                        "variations": ["control", "v1"],
                        "phases": [{"coverage": 1, "weights": [0.5, 0.5]}],
                    }
                ],
            }
            for o in range(orgs)
        ],
    }


def _publish(state: Path, target: Path, *extra: str) -> Any:
    return run_cli("-v", "publish", state, "--target", target, *extra)


def test_a_change_to_one_organization_reads_and_writes_only_it(tmp_path: Path) -> None:
    state = _org_state()
    _write(tmp_path / "s.json", state)
    assert _publish(tmp_path / "s.json", tmp_path / "t").exit_code == 0
    state["organizations"][2]["experiments"][0]["phases"][0]["coverage"] = 0.5
    _write(tmp_path / "s.json", state)
    before = _docs(tmp_path / "t")
    run = _publish(tmp_path / "s.json", tmp_path / "t")
    assert run.exit_code == 0, run.stderr
    assert f"5 {REUSED}" in run.stderr
    after = _docs(tmp_path / "t")
    changed = sorted(k for k in after if after[k] != before.get(k))
    assert changed == [f"config/key_0002{k:04d}abcdefgh" for k in range(3)]
    assert "0 added, 3 changed, 0 deleted, 15 unchanged" in run.stdout
    # The same bytes as a publish that read every organization.
    assert _publish(tmp_path / "s.json", tmp_path / "fresh").exit_code == 0
    assert after == _docs(tmp_path / "fresh")


def test_nothing_is_reused_when_an_option_that_shapes_documents_changes(tmp_path: Path) -> None:
    state = _org_state(orgs=3)
    state["organizations"][1]["experiments"][0]["status"] = "stopped"
    _write(tmp_path / "s.json", state)
    assert _publish(tmp_path / "s.json", tmp_path / "t").exit_code == 0
    state["organizations"][0]["name"] = "renamed"  # a change, so the publish is not a no-op
    _write(tmp_path / "s.json", state)
    run = _publish(tmp_path / "s.json", tmp_path / "t", "--stopped-policy", "force-control")
    assert run.exit_code == 0, run.stderr
    assert REUSED not in run.stderr
    body = json.loads((tmp_path / "t" / "config" / "key_00010000abcdefgh").read_text())
    assert body["overrides"]["exp-a"]["force"] == 0  # rendered again under the new policy


def test_a_key_already_used_by_an_unchanged_organization_is_still_refused(
    tmp_path: Path,
) -> None:
    state = _org_state(orgs=4)
    _write(tmp_path / "s.json", state)
    assert _publish(tmp_path / "s.json", tmp_path / "t").exit_code == 0
    before = tree(tmp_path / "t")
    state["organizations"][3]["api_keys"].append({"key": "key_00000000abcdefgh"})
    _write(tmp_path / "s.json", state)
    run = _publish(tmp_path / "s.json", tmp_path / "t")
    assert run.exit_code == 3
    assert "duplicate API key: already used at organizations[0].api_keys[0].key" in run.stderr
    assert tree(tmp_path / "t") == before
    fresh = _publish(tmp_path / "s.json", tmp_path / "fresh")
    assert fresh.exit_code == 3 and not (tmp_path / "fresh").exists()


def test_a_damaged_record_of_organizations_is_not_trusted(tmp_path: Path) -> None:
    state = _org_state(orgs=3)
    _write(tmp_path / "s.json", state)
    assert _publish(tmp_path / "s.json", tmp_path / "t").exit_code == 0
    path = tmp_path / "t" / "_publisher" / MANIFEST
    manifest = json.loads(path.read_text())
    entry = manifest["orgs"]["entries"][0]
    entry[5] = entry[5][:1]  # claims org-0 has one key: the section's digest no longer holds
    path.write_text(json.dumps(manifest))
    state["organizations"][1]["name"] = "renamed"
    _write(tmp_path / "s.json", state)
    run = _publish(tmp_path / "s.json", tmp_path / "t")
    assert run.exit_code == 0, run.stderr
    assert REUSED not in run.stderr
    assert _publish(tmp_path / "s.json", tmp_path / "fresh").exit_code == 0
    assert _docs(tmp_path / "t") == _docs(tmp_path / "fresh")


def test_a_revoked_key_left_live_is_deleted_by_a_later_prune(tmp_path: Path) -> None:
    state = _org_state(orgs=4)
    _write(tmp_path / "s.json", state)
    assert _publish(tmp_path / "s.json", tmp_path / "t").exit_code == 0
    state["organizations"][1]["api_keys"][0]["revoked"] = True
    _write(tmp_path / "s.json", state)
    assert _publish(tmp_path / "s.json", tmp_path / "t").exit_code == 0  # no --prune: left
    revoked = tmp_path / "t" / "config" / "key_00010000abcdefgh"
    assert revoked.exists()
    state["organizations"][3]["name"] = "renamed"  # org-1's text is unchanged since
    _write(tmp_path / "s.json", state)
    run = _publish(tmp_path / "s.json", tmp_path / "t", "--prune")
    assert run.exit_code == 0, run.stderr
    assert not revoked.exists()


def test_a_manifest_changed_while_waiting_for_the_lock_reads_everything(tmp_path: Path) -> None:
    """Another publisher wrote between our read and our lock: what we reused was checked
    against a manifest that is no longer live, so the whole state is read again."""
    state = _org_state(orgs=4)
    path = _write(tmp_path / "s.json", state)
    assert run_cli("publish", path, "--target", tmp_path / "t").exit_code == 0
    other = _org_state(orgs=4)
    other["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.25
    other_path = _write(tmp_path / "other.json", other)
    state["organizations"][1]["experiments"][0]["phases"][0]["coverage"] = 0.75
    _write(path, state)

    class Racing(LocalTarget):
        raced = False

        def acquire_lock(self, info: Any) -> None:
            if not Racing.raced:  # the other publisher gets in first
                Racing.raced = True
                assert run_cli("publish", other_path, "--target", tmp_path / "t").exit_code == 0
            super().acquire_lock(info)

    result = sync_target(path, Racing(tmp_path / "t"), PublishOptions())
    assert Racing.raced
    # org-0 is put back (the other publisher changed it) with org-1 (ours): had the
    # organizations reused before the lock been trusted, org-0 would keep the other's.
    assert sorted({p.document.org for p in result.plan.puts}) == ["org-0", "org-1"]
    assert run_cli("publish", path, "--target", tmp_path / "fresh").exit_code == 0
    assert _docs(tmp_path / "t") == _docs(tmp_path / "fresh")


# --- generative: reuse never changes the outcome -----------------------------------------


def _edit(state: dict[str, Any], how: int, rng: random.Random) -> str | None:
    """Change `state` in place one way; or return new text outright (a broken file)."""
    orgs = state["organizations"]
    org = orgs[rng.randrange(len(orgs))]
    kind = how % 9
    if kind == 0 and org["experiments"]:
        exp = org["experiments"][0]
        exp["status"] = rng.choice(["draft", "running", "stopped"])
    elif kind == 1:
        org["name"] = rng.choice(["a", "b", "\u202e"])
    elif kind == 2:
        rng.shuffle(orgs)
    elif kind == 3 and len(orgs) > 1:
        orgs.remove(org)
    elif kind == 4 and org["api_keys"]:
        org["api_keys"][0]["revoked"] = not org["api_keys"][0].get("revoked", False)
    elif kind == 5:  # a key another organization has: a duplicate
        other = orgs[rng.randrange(len(orgs))]
        if other["api_keys"]:
            org["api_keys"].append(dict(other["api_keys"][0]))
    elif kind == 6:
        org["api_keys"].append({"key": f"key_{rng.getrandbits(64):016x}"})
    elif kind == 7:
        orgs.append({**org, "api_keys": []})  # a second organization of the same id
    elif kind == 8:
        text = json.dumps(state, ensure_ascii=False)
        return JSON_MUTATIONS[rng.randrange(len(JSON_MUTATIONS))](text, rng)
    return None


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="reuse-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.usefixtures("quick_upload_looks")
@given(
    state=states(),
    edits=st.lists(st.integers(0, 1000), min_size=1, max_size=3),
    seed=st.randoms(use_true_random=False),
    indent=st.sampled_from([None, 1]),
)
def test_reusing_organizations_never_changes_the_outcome(
    workdir: Path, state: dict[str, Any], edits: list[int], seed: Any, indent: int | None
) -> None:
    for child in workdir.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    path = _write(workdir / "s.json", state, indent)
    if run_cli("publish", path, "--target", workdir / "t").exit_code != 0:
        event("the first state breaks a rule")
        return
    text = None
    for how in edits:
        text = _edit(state, how, seed) or text
    if text is not None:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    else:
        _write(path, state, indent)
    before = tree(workdir / "t")
    options = ("--prune", "--force")
    reused = _publish(path, workdir / "t", *options)
    full = _publish(path, workdir / "fresh", *options)
    event(f"exit {reused.exit_code}, reused: {REUSED in reused.stderr}")
    assert reused.exit_code == full.exit_code, reused.stderr + full.stderr
    if full.exit_code == 3:
        assert tree(workdir / "t") == before
        problems = [line for line in full.stderr.splitlines() if line.startswith("  ")]
        assert problems == [line for line in reused.stderr.splitlines() if line.startswith("  ")]
        return
    assert full.exit_code == 0, full.stderr
    assert _docs(workdir / "t") == _docs(workdir / "fresh")


def test_a_failed_webhook_leaves_the_target_settled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every document and the manifest are written; only the delivery failed. The next
    publish retries it, but neither lists what is live nor reads every organization."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    state = _org_state(orgs=4)
    state["organizations"][0]["webhooks"] = [
        {"url": f"http://127.0.0.1:{port}/hook", "secret_env": "HOOK_SECRET"}
    ]
    path = _write(tmp_path / "s.json", state)
    assert _publish(path, tmp_path / "t").exit_code == 4
    quick = tmp_path / "t" / "_publisher" / "quick.json"
    assert json.loads(quick.read_text()) == {"settled": True}
    state["organizations"][2]["name"] = "renamed"
    _write(path, state)
    again = _publish(path, tmp_path / "t")
    assert again.exit_code == 4  # the webhook is retried, and fails again
    assert "a full scan" not in again.stderr
    assert f"2 {REUSED}" in again.stderr  # org-0 has a webhook, org-2 changed
