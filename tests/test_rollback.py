"""History and rollback: any kept generation restored byte for byte, without its state.

On a directory and on moto's HTTP server: a document deleted since is put back when
--state names its key (named, exit 4, when nothing does); the delete guards hold; a
rollback cut short converges when run again; old generations are collected; no raw key
is ever written under _publisher/.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import publisher
from publisher.redact import key_label, stored_label
from tests.conftest import KEY_A, KEY_A_CHECKOUT, KEY_G, base_state, dump_state, run_cli, tree
from tests.s3util import CREDENTIALS, Faults, Proxy, count, moto_server, s3_client
from tests.test_properties import states
from tests.webhook_util import receiver


class Site:
    """A directory or a bucket, with what is under config/ and _publisher/ read out of band."""

    def __init__(self, kind: str, tmp_path: Path, endpoint: str | None) -> None:
        self.kind, self.root, self.endpoint = kind, tmp_path / "public", endpoint
        self.args: tuple[str | Path, ...] = ("--target", self.root)
        if kind == "s3":
            assert endpoint is not None
            self.client: Any = s3_client(endpoint)
            self.bucket = f"rb-{abs(hash(tmp_path)) % 10**8}"
            self.client.create_bucket(Bucket=self.bucket)
            self.args = ("--target", f"s3://{self.bucket}/site", "--endpoint-url", endpoint)

    def files(self, under: str) -> dict[str, bytes]:
        if self.kind == "dir":
            return {k: v for k, v in tree(self.root).items() if k.startswith(under)}
        found: dict[str, bytes] = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"site/{under}"
        )
        for page in pages:
            for obj in page.get("Contents", []):
                body = self.client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                found[obj["Key"].removeprefix("site/")] = body
        return found


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(params=["dir", "s3"])
def site(
    request: pytest.FixtureRequest, tmp_path: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Site:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return Site(request.param, tmp_path, endpoint)


def state_with(coverage: float, revoked: bool = False) -> dict[str, Any]:
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = coverage
    if revoked:
        state["organizations"][1]["api_keys"][0]["revoked"] = True
    return state


def publish(site: Site, path: Path, state: dict[str, Any], *extra: str) -> None:
    result = run_cli("publish", dump_state(path, state), *site.args, *extra)
    assert result.exit_code == 0, result.stderr


def test_rollback_restores_a_generation_byte_for_byte(site: Site, tmp_path: Path) -> None:
    state_file = tmp_path / "s.yaml"
    publish(site, state_file, state_with(0.1))
    first = site.files("config/")
    publish(site, state_file, state_with(0.9))
    publish(site, state_file, state_with(0.9, revoked=True), "--prune")  # KEY_G deleted
    assert f"config/{KEY_G}" not in site.files("config/")

    # Without a state, the deleted key is not known: named by label, exit 4, the rest done;
    # the dry run says so with the same exit code, and writes nothing.
    before = site.files("config/")
    dry = run_cli("rollback", "--to", "1", *site.args, "--dry-run")
    assert dry.exit_code == 4, dry.stderr
    assert "1 document of generation 1 would not be put back" in dry.stderr
    assert site.files("config/") == before
    blind = run_cli("rollback", "--to", "1", *site.args)
    assert blind.exit_code == 4, blind.stderr
    assert key_label(KEY_G) in blind.stdout + blind.stderr
    assert KEY_G not in blind.stdout + blind.stderr
    assert site.files("config/") == {k: v for k, v in first.items() if KEY_G not in k}

    # With the state (which still lists the key, revoked), all of generation 1 is back.
    known = run_cli("rollback", "--to", "1", *site.args, "--state", state_file)
    assert known.exit_code == 0, known.stderr
    assert site.files("config/") == first

    history = json.loads(run_cli("history", *site.args, "--json").stdout)
    assert [(g["generation"], g["kind"]) for g in history] == [
        (5, "rollback"),
        (4, "rollback"),
        (3, "publish"),
        (2, "publish"),
        (1, "publish"),
    ]
    assert history[0]["counts"]["added"] == 1 and history[1]["counts"]["changed"] == 1
    assert history[2]["counts"]["deleted"] == 1
    assert all(g["restorable"] and g["time"].endswith("Z") for g in history)
    # A rollback with nothing to change records nothing.
    again = run_cli("rollback", "--to", "1", *site.args, "--state", state_file)
    assert again.exit_code == 0 and "Nothing changed" in again.stdout
    meta = site.files("_publisher/")
    for key in (KEY_A, KEY_A_CHECKOUT, KEY_G):
        assert not any(key.encode() in body or key in name for name, body in meta.items())


def test_a_dry_run_changes_nothing(site: Site, tmp_path: Path) -> None:
    state_file = tmp_path / "s.yaml"
    publish(site, state_file, state_with(0.1))
    publish(site, state_file, state_with(0.2))
    before = {**site.files("config/"), **site.files("_publisher/")}
    dry = run_cli("rollback", "--to", "1", *site.args, "--dry-run")
    assert dry.exit_code == 0
    assert "(dry run): would put back 1" in dry.stdout
    assert {**site.files("config/"), **site.files("_publisher/")} == before


def test_the_delete_guards_hold_on_a_rollback(site: Site, tmp_path: Path) -> None:
    state_file = tmp_path / "s.yaml"
    small = state_with(0.1)
    small["organizations"] = small["organizations"][:1]  # generation 1: acme's 2 keys
    publish(site, state_file, small)
    big = copy.deepcopy(state_with(0.1))
    big["organizations"][1]["api_keys"] += [{"key": f"key_more_{i:020d}"} for i in range(4)]
    publish(site, state_file, big)  # 7 documents live
    before = site.files("config/")
    dry = run_cli("rollback", "--to", "1", *site.args, "--dry-run")  # says what the run does
    assert dry.exit_code == 3, dry.stdout
    assert "this rollback would be refused" in dry.stderr and "more than half" in dry.stderr
    assert "(dry run): would put back" in dry.stdout
    as_json = run_cli("rollback", "--to", "1", *site.args, "--dry-run", "--json")
    said = json.loads(as_json.stdout)
    assert as_json.exit_code == 3 and "more than half" in said["refused"]
    assert said["ok"] is False and said["exit_code"] == 3
    forced = run_cli("rollback", "--to", "1", *site.args, "--dry-run", "--force")
    assert forced.exit_code == 0, forced.stderr
    refused = run_cli("rollback", "--to", "1", *site.args)  # would delete 5 of 7
    assert refused.exit_code == 3
    assert "more than half" in refused.stderr
    assert site.files("config/") == before
    capped = run_cli("rollback", "--to", "1", *site.args, "--max-deletes", "2", "--force")
    assert capped.exit_code == 0  # --force lifts both guards
    assert sorted(site.files("config/")) == sorted(f"config/{k}" for k in (KEY_A, KEY_A_CHECKOUT))


def test_a_rollback_cut_short_converges_when_run_again(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    site = Site("s3", tmp_path, endpoint)
    state_file = tmp_path / "s.yaml"
    publish(site, state_file, state_with(0.1))
    first = site.files("config/")
    publish(site, state_file, state_with(0.7))
    proxy = Proxy(endpoint, Faults(deny_put=f"/config/{KEY_A}"))
    try:
        args = ("--target", f"s3://{site.bucket}/site", "--endpoint-url", proxy.url)
        cut = run_cli("rollback", "--to", "1", *args)
        requests = proxy.reset()
    finally:
        proxy.close()
    assert cut.exit_code == 4
    assert key_label(KEY_A) in cut.stderr and KEY_A not in cut.stderr
    assert count(requests, "DELETE", "/config/") == 0
    assert "_publisher/lock" not in site.files("_publisher/")  # released
    again = run_cli("rollback", "--to", "1", *site.args)
    assert again.exit_code == 0, again.stderr
    assert site.files("config/") == first


def test_old_generations_are_collected(tmp_path: Path) -> None:
    site = Site("dir", tmp_path, None)
    state_file = tmp_path / "s.yaml"
    for i in range(14):
        publish(site, state_file, state_with(round(0.05 * (i + 1), 2)), "--keep-generations", "3")
    history = json.loads(run_cli("history", *site.args, "--json", "--limit", "20").stdout)
    restorable = [g["generation"] for g in history if g["restorable"]]
    assert restorable[0] == 14 and len(restorable) >= 3 and len(restorable) < 14
    oldest = min(restorable)
    packs = {
        int(n.removeprefix("_publisher/bodies/").removesuffix(".json"))
        for n in site.files("_publisher/")
        if n.startswith("_publisher/bodies/")
    }
    # Each generation changed acme's one document: its pack holds that body. The kept
    # generations need their own packs, and generation 1's (the two documents that never
    # changed); every other pack was deleted.
    assert packs == {1, *restorable}, (packs, restorable)
    gone = run_cli("rollback", "--to", str(oldest - 1), *site.args)
    assert gone.exit_code == 2 and "is no longer kept" in gone.stderr
    kept = run_cli("rollback", "--to", str(oldest), *site.args)
    assert kept.exit_code == 0, kept.stderr


@pytest.mark.usefixtures("quick_upload_looks")
@given(
    history=st.lists(states(), min_size=2, max_size=4),
    pick=st.integers(0, 3),
    with_state=st.booleans(),
)
def test_any_generation_rolls_back_to_its_exact_bytes(
    history: list[dict[str, Any]], pick: int, with_state: bool
) -> None:
    """Publish a run of generated states (--prune), roll back to any one of them: what is
    live is that generation's bytes, except documents whose key nobody can name (exit 4,
    each named by label). With a state naming every key, always exactly."""
    work = Path(tempfile.mkdtemp(prefix="rollback-prop-"))
    try:
        target, seen, everyone = work / "public", [], {}
        for i, state in enumerate(history):
            path = dump_state(work / f"s{i}.yaml", state)
            result = run_cli("publish", path, "--target", target, "--prune", "--force")
            assume(result.exit_code == 0)  # a generated state may break a rule (bad regex)
            seen.append({k: v for k, v in tree(target).items() if k.startswith("config/")})
            for org in state["organizations"]:
                for key in org["api_keys"]:
                    everyone[key["key"]] = org["id"]
        generations = json.loads(run_cli("history", "--target", target, "--json").stdout)
        numbers = sorted(g["generation"] for g in generations)
        assume(len(numbers) == len(seen))  # a state equal to the one before records nothing
        to = pick % len(seen)
        live_before = set(tree(target))
        args: list[str | Path] = ["rollback", "--to", str(numbers[to]), "--target", target]
        if with_state:
            union = {"version": 1, "organizations": [
                {"id": f"o{i}", "api_keys": [{"key": k}]} for i, k in enumerate(everyone)
            ]}  # fmt: skip
            args += ["--force", "--state", dump_state(work / "all.yaml", union)]
        else:
            args.append("--force")
        result = run_cli(*args)
        now = {k: v for k, v in tree(target).items() if k.startswith("config/")}
        wanted = seen[to]
        unknown = {k for k in wanted if k not in live_before} if not with_state else set()
        assert result.exit_code == (4 if unknown else 0), result.stderr
        assert now == {k: v for k, v in wanted.items() if k not in unknown}
        for name in unknown:
            assert stored_label(name.removeprefix("config/")) in result.stderr
        shown = result.stdout + result.stderr
        assert not any(k in shown for k in everyone)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_rollback_with_the_state_pushes_its_webhooks(tmp_path: Path) -> None:
    """Each hook whose scope changed gets the document put back, signed; the record says
    so, so the next publish of the rolled-back state pushes nothing twice."""
    with receiver() as hook:
        state = state_with(0.1)
        state["organizations"][0]["webhooks"] = [{"url": hook.url, "secret_env": "ROLL_HOOK"}]
        path = dump_state(tmp_path / "s.yaml", state)
        target = tmp_path / "public"
        env = {"ROLL_HOOK": "roll-secret"}
        first = publisher.publish(path, target, publisher.PublishOptions(environ=env))
        assert len(first.webhooks.delivered) == 1
        v1 = (target / "config" / KEY_A).read_bytes()
        state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.9
        dump_state(path, state)
        publisher.publish(path, target, publisher.PublishOptions(environ=env))
        assert len(hook.pushes) == 2
        rolled = publisher.rollback(1, target, publisher.PublishOptions(environ=env), state=path)
        assert rolled.webhooks.delivered and not rolled.webhooks.failed
        assert len(hook.pushes) == 3
        pushed = json.loads(hook.pushes[-1].body)["overrides"]
        assert pushed == json.loads(v1)["overrides"]
        history = publisher.history(target, limit=1)
        assert history[0].kind == "rollback" and history[0].webhooks == "done"


def test_a_lost_manifest_never_writes_over_earlier_records(tmp_path: Path) -> None:
    site = Site("dir", tmp_path, None)
    state_file = tmp_path / "s.yaml"
    for coverage in (0.1, 0.2, 0.3):
        publish(site, state_file, state_with(coverage))
    first = (site.root / "_publisher" / "generations" / "00000001.json").read_bytes()
    (site.root / "_publisher" / "manifest.json").unlink()
    listed = json.loads(run_cli("history", *site.args, "--json").stdout)
    assert [g["generation"] for g in listed] == [3, 2, 1]  # still shown, from the records
    refused = run_cli("rollback", "--to", "1", *site.args)
    assert refused.exit_code == 2 and "manifest is missing or damaged" in refused.stderr
    publish(site, state_file, state_with(0.4))
    assert (site.root / "_publisher" / "generations" / "00000001.json").read_bytes() == first
    listed = json.loads(run_cli("history", *site.args, "--json").stdout)
    assert [g["generation"] for g in listed] == [4, 3, 2, 1]


def test_rollback_refuses_what_cannot_be_restored_and_leaves_no_trace(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    never = run_cli("rollback", "--to", "1", "--target", nowhere)
    assert never.exit_code == 2 and not nowhere.exists()
    site = Site("dir", tmp_path, None)
    publish(site, tmp_path / "s.yaml", state_with(0.1))
    future = run_cli("rollback", "--to", "999", *site.args)
    assert future.exit_code == 2
    assert "generation 999 does not exist: the newest is 1" in future.stderr


def test_a_revoked_key_put_back_is_said(tmp_path: Path) -> None:
    site = Site("dir", tmp_path, None)
    state_file = tmp_path / "s.yaml"
    publish(site, state_file, state_with(0.1))
    publish(site, state_file, state_with(0.1, revoked=True), "--prune")
    result = run_cli("rollback", "--to", "1", *site.args, "--state", state_file)
    assert result.exit_code == 0, result.stderr
    assert f"! {key_label(KEY_G)}: revoked in the state, and live again" in result.stdout
    assert f"↺ {key_label(KEY_G)}: deleted since" in result.stdout
