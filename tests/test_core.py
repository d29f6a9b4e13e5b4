"""Table-driven tests of the pure core: plan, delete guards, lock staleness, manifest, key editors."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import textwrap

import pytest
import yaml

from publisher.bookkeeping.manifest import (
    Manifest,
    NewGeneration,
    build_manifest,
    manifest_documents,
    parse_manifest,
    record_generation,
)
from publisher.documents.render import Document, canonical
from publisher.errors import PlanRefusedError, UsageError
from publisher.publishing.plan import Plan, check_deletes, plan_from_manifest, plan_sync
from publisher.redact import key_hash
from publisher.state import edit_json, edit_yaml
from publisher.targets.interface import LiveObject
from publisher.targets.publish_lock import LockInfo, decode_lock, is_stale, new_lock
from tests.race import dead_pid

SALT = "5a17" * 8  # a target's salt, fixed for the tables below


def doc(text: str) -> Document:
    body = canonical({"status": 200, "overrides": {"e": {"status": text}}})
    return Document(
        body,
        hashlib.sha256(body).hexdigest(),
        hashlib.md5(body, usedforsecurity=False).hexdigest(),
        "acme",
        None,
    )


A, B = doc("running"), doc("draft")

# (desired, live, manifest, expected puts as (key, reason), deletes, unchanged)
PLAN_CASES = [
    ("empty target", {"k1": A}, {}, {}, [("k1", "added")], [], 0),
    ("unchanged by md5", {"k1": A}, {"k1": LiveObject(A.md5)}, {}, [], [], 1),
    ("changed by md5", {"k1": B}, {"k1": LiveObject(A.md5)}, {}, [("k1", "changed")], [], 0),
    (
        "gone from the state, written by us",
        {},
        {"k1": LiveObject(A.md5)},
        {key_hash("k1", SALT): A.sha256},
        [],
        ["k1"],
        0,
    ),
    (
        "no md5: the manifest decides (same)",
        {"k1": A},
        {"k1": LiveObject(None)},
        {key_hash("k1", SALT): A.sha256},
        [],
        [],
        1,
    ),
    (
        "no md5: the manifest decides (differs)",
        {"k1": B},
        {"k1": LiveObject(None)},
        {key_hash("k1", SALT): A.sha256},
        [("k1", "changed")],
        [],
        0,
    ),
    (
        "no md5, not in the manifest",
        {"k1": A},
        {"k1": LiveObject(None)},
        {},
        [("k1", "changed")],
        [],
        0,
    ),
    (
        "sorted puts and deletes",
        {"k3": A, "k1": B},
        {"k9": LiveObject(A.md5), "k2": LiveObject(A.md5)},
        {key_hash("k9", SALT): A.sha256, key_hash("k2", SALT): A.sha256},
        [("k1", "added"), ("k3", "added")],
        ["k2", "k9"],
        0,
    ),
]


@pytest.mark.parametrize("adopt", [False, True], ids=["default", "adopt_unmanaged"])
def test_plan_never_deletes_what_it_did_not_write(adopt: bool) -> None:
    """A live file no manifest records is unmanaged: planned for deletion only when adopted."""
    live = {"README-notes": LiveObject(A.md5), "k1": LiveObject(A.md5)}
    plan = plan_sync({}, live, {key_hash("k1", SALT): A.sha256}, adopt_unmanaged=adopt, salt=SALT)
    if adopt:
        assert plan.deletes == ["README-notes", "k1"] and plan.unmanaged == []
    else:
        assert plan.deletes == ["k1"] and plan.unmanaged == ["README-notes"]


@pytest.mark.parametrize(
    ("desired", "live", "manifest", "puts", "deletes", "unchanged"),
    [case[1:] for case in PLAN_CASES],
    ids=[case[0] for case in PLAN_CASES],
)
def test_plan_sync(desired, live, manifest, puts, deletes, unchanged) -> None:
    """plan_sync compares by MD5 ETag, else by the manifest's sha256, and sorts its lists."""
    plan = plan_sync(desired, live, manifest, salt=SALT)
    assert [(p.key, p.reason) for p in plan.puts] == puts
    assert plan.deletes == deletes
    assert plan.unchanged == unchanged
    assert plan.live == len(live)


# (deletes, live, max_deletes, force, refused with)
GUARD_CASES = [
    ("nothing to delete", 0, 0, 0, False, None),
    ("within both guards", 2, 10, 100, False, None),
    ("exactly half", 5, 10, 100, False, None),
    ("over half", 6, 10, 100, False, "more than half"),
    ("over max-deletes", 3, 100, 2, False, "more than --max-deletes 2"),
    ("at max-deletes", 2, 100, 2, False, None),
    ("force beats max-deletes", 300, 400, 100, True, None),
    ("force beats half", 10, 10, 100, True, None),
]


@pytest.mark.parametrize(
    ("count", "live", "max_deletes", "force", "refused"),
    [case[1:] for case in GUARD_CASES],
    ids=[case[0] for case in GUARD_CASES],
)
def test_delete_guards(count, live, max_deletes, force, refused) -> None:
    """A prune over --max-deletes or over half of what is live is refused unless forced."""
    plan = Plan(deletes=[f"k{i}" for i in range(count)], live=live)
    if refused is None:
        check_deletes(plan, max_deletes=max_deletes, force=force)
    else:
        with pytest.raises(PlanRefusedError, match=refused) as caught:
            check_deletes(plan, max_deletes=max_deletes, force=force)
        assert "nothing was published" in caught.value.message


HERE = socket.gethostname()
NOW = 1_000_000.0
DEAD = -1  # replaced by the pid of a process that has exited
STALE_CASES = [
    ("unreadable", None, True),
    ("expired", LockInfo(HERE, os.getpid(), "t", NOW - 100, NOW - 1), True),
    ("expires exactly now", LockInfo(HERE, os.getpid(), "t", NOW - 100, NOW), True),
    ("live, this process", LockInfo(HERE, os.getpid(), "t", NOW, NOW + 60), False),
    ("live, dead process here", LockInfo(HERE, DEAD, "t", NOW, NOW + 60), True),
    ("live, other host", LockInfo("elsewhere.example", 1, "t", NOW, NOW + 60), False),
    ("a day ahead", LockInfo("elsewhere.example", 1, "t", NOW, NOW + 86_400), False),
    ("beyond any ttl", LockInfo("elsewhere.example", 1, "t", 0, NOW + 86_400 + 61), True),
    ("year 5138", LockInfo("elsewhere.example", 1, "t", 0, 99_999_999_999.0), True),
]


@pytest.mark.parametrize(
    ("info", "stale"),
    [(case[1], case[2]) for case in STALE_CASES],
    ids=[case[0] for case in STALE_CASES],
)
def test_lock_staleness(info, stale) -> None:
    """A lock is stale when unreadable, expired, held by a dead process on this host, or
    expiring further ahead than any --lock-ttl sets (a day)."""
    if info is not None and info.pid == DEAD:
        info = LockInfo(info.host, dead_pid(), info.token, info.started_at, info.expires_at)
    assert is_stale(info, now=NOW) is stale


def test_lock_round_trip() -> None:
    """A lock decodes to what was encoded; garbage decodes to None (stale)."""
    info = new_lock(60, now=NOW)
    assert decode_lock(info.encode()) == info
    assert info.renewed(120, now=NOW + 10).expires_at == NOW + 130
    # A library caller's longer ttl is held to a day: longer would look stale to others.
    assert new_lock(10**9, now=NOW).expires_at == NOW + 86_400
    assert info.renewed(10**9, now=NOW).expires_at == NOW + 86_400
    for garbage in (b"", b"{}", b"[1]", b'{"host": "h"}', b"\xff"):
        assert decode_lock(garbage) is None


class Meta:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def write_meta(self, name: str, body: bytes) -> None:
        self.files[name] = body


def test_manifest_round_trip() -> None:
    """What build_manifest writes, parse_manifest reads back; keys appear only as sha256."""
    docs = manifest_documents(Manifest(), {"key_aaaaaaaa": "s1", "key_bbbbbbbb": "s2"}, [])
    generation, body, summary = build_manifest(
        Manifest(generation=6), NewGeneration(docs, "abc", {"added": 2}), now=0
    )
    assert generation == 7
    back = parse_manifest(body)
    assert back == Manifest(7, docs, "abc", intact=True)
    assert b"key_aaaaaaaa" not in body and b"key_aaaaaaaa" not in summary
    assert json.loads(summary)["published_at"] == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "raw",
    [None, b"", b"not json", b"[]", b'{"generation": 1}', b'{"generation": 1, "documents": []}'],
)
def test_unreadable_manifest_counts_as_none(raw) -> None:
    """A missing or unreadable manifest parses as generation 0 with no documents."""
    assert parse_manifest(raw) == Manifest()


def test_manifest_keeps_documents_left_in_place() -> None:
    """A key no longer in the state but not pruned keeps its entry; a deleted one loses it;
    after a full listing, an entry whose document is gone is dropped."""
    old, new, gone = "key_old_0000", "key_new_0000", "key_gone_000"
    previous = Manifest(
        3,
        {key_hash(old, SALT): "old", key_hash(new, SALT): "x", key_hash(gone, SALT): "g"},
        salt=SALT,
    )
    docs = manifest_documents(previous, {new: "new"}, [gone])
    assert docs == {key_hash(new, SALT): "new", key_hash(old, SALT): "old"}
    listed = manifest_documents(previous, {new: "new"}, [], live=[new])
    assert listed == {key_hash(new, SALT): "new"}


@pytest.mark.parametrize(
    ("edit", "intact"),
    [
        (lambda m: m, True),
        (lambda m: {**m, "generation": m["generation"] + 1}, False),
        (lambda m: {**m, "documents": {**m["documents"], "ab": "cd"}}, False),
        (lambda m: {k: v for k, v in m.items() if k != "digest"}, False),
        (lambda m: {**m, "format": 1}, False),
    ],
    ids=["as-written", "generation-edited", "document-added", "no-digest", "old-format"],
)
def test_manifest_integrity(edit, intact) -> None:
    """A manifest is planned from only when its format is this one and its digest holds."""
    _, body, _ = build_manifest(
        Manifest(), NewGeneration({key_hash("key_aaaaaaaa", SALT): "s1"}, "x")
    )
    assert parse_manifest(json.dumps(edit(json.loads(body))).encode()).intact is intact


def test_plan_from_the_manifest() -> None:
    """Without a listing: unchanged by the manifest's sha256, deletes only of known keys,
    and the documents of keys the state no longer names counted as hidden."""
    manifest = {
        key_hash("k1", SALT): A.sha256,
        key_hash("k2", SALT): A.sha256,
        key_hash("gone", SALT): A.sha256,
    }
    plan = plan_from_manifest({"k1": A, "k3": B}, manifest, known=["k1", "k2", "k3"], salt=SALT)
    assert [(p.key, p.reason) for p in plan.puts] == [("k3", "added")]
    assert plan.unchanged == 1 and plan.deletes == ["k2"] and plan.hidden == 1
    changed = plan_from_manifest({"k1": B}, manifest, known=["k1"], salt=SALT)
    assert [(p.key, p.reason) for p in changed.puts] == [("k1", "changed")]


def test_record_generation_only_on_change() -> None:
    """Recording the same documents and state twice writes one generation."""
    meta = Meta()
    docs = {key_hash("key_aaaaaaaa", SALT): "s1"}
    first = record_generation(meta, Manifest(), NewGeneration(docs, "abc"))
    assert first == 1 and set(meta.files) == {"manifest.json", "generations/00000001.json"}
    body = meta.files["manifest.json"]
    again = record_generation(meta, parse_manifest(body), NewGeneration(docs, "abc"))
    assert again == 1 and len(meta.files) == 2 and meta.files["manifest.json"] == body
    scanned = record_generation(
        meta, parse_manifest(body), NewGeneration(docs, "abc", full_scan_at=5.0)
    )  # only the time of the last full scan changed: the same generation, rewritten
    assert scanned == 1 and len(meta.files) == 2
    assert parse_manifest(meta.files["manifest.json"]).full_scan_at == 5.0


YAML_STATE = textwrap.dedent(
    """\
    version: 1
    organizations:
      - id: acme   # the first
        api_keys:
          - key: key_one_00000001
            description: One
      - id: globex
        api_keys: [{key: key_two_00000002}]
      - id: initech
        experiments: []
    """
)
JSON_STATE = json.dumps(yaml.safe_load(YAML_STATE), indent=2) + "\n"

# (editor call, org or key, the api_keys each organization has after the edit)
EDIT_CASES = [
    (
        "add to a block list",
        ("add", "acme"),
        {"acme": ["key_one_00000001", "key_new_0000000x"], "globex": ["key_two_00000002"]},
    ),
    (
        "add to a flow list",
        ("add", "globex"),
        {"acme": ["key_one_00000001"], "globex": ["key_two_00000002", "key_new_0000000x"]},
    ),
    (
        "add where there are none",
        ("add", "initech"),
        {"initech": ["key_new_0000000x"]},
    ),
    ("revoke in a block list", ("revoke", "key_one_00000001"), {"acme": ["key_one_00000001"]}),
    ("revoke in a flow list", ("revoke", "key_two_00000002"), {"globex": ["key_two_00000002"]}),
]


@pytest.mark.parametrize("editor", [edit_yaml, edit_json], ids=["yaml", "json"])
@pytest.mark.parametrize(
    ("call", "expected"), [c[1:] for c in EDIT_CASES], ids=[c[0] for c in EDIT_CASES]
)
def test_key_editors(editor, call, expected) -> None:
    """Both editors add a key to the right organization and revoke the right key."""
    text = YAML_STATE if editor is edit_yaml else JSON_STATE
    action, arg = call
    if action == "add":
        out = editor.add_api_key(text, arg, {"key": "key_new_0000000x", "description": "x: y"})
    else:
        out = editor.revoke_api_key(text, arg)
    data = yaml.safe_load(out)
    orgs = {o["id"]: o.get("api_keys", []) for o in data["organizations"]}
    for org, keys in expected.items():
        assert [k["key"] for k in orgs[org]] == keys
    if action == "add":
        added = next(k for k in orgs[arg] if k["key"] == "key_new_0000000x")
        assert added["description"] == "x: y"
    else:
        revoked = [k for ks in orgs.values() for k in ks if k.get("revoked")]
        assert [k["key"] for k in revoked] == [arg]
    if editor is edit_yaml:
        assert "# the first" in out  # comments survive


@pytest.mark.parametrize("editor", [edit_yaml, edit_json], ids=["yaml", "json"])
def test_key_editors_refuse_unknown_targets(editor) -> None:
    """An unknown organization or key is a usage error naming what exists."""
    text = YAML_STATE if editor is edit_yaml else JSON_STATE
    with pytest.raises(UsageError, match="no organization 'nope'"):
        editor.add_api_key(text, "nope", {"key": "key_new_0000000x"})
    with pytest.raises(UsageError):
        editor.revoke_api_key(text, "key_missing_0001")
