"""The rendering rules of SPEC §3, one table row at a time, and canonical bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from publisher.documents.render import render_documents, render_override
from publisher.state import parse_state
from publisher.state.model import ApiKey, Experiment, Organization, Phase, State

P1 = Phase(coverage=0.5, weights=(0.2, 0.8))
P2 = Phase(coverage=1.0, weights=(0.5, 0.5), groups=("beta", "qa"))


def exp(status: str, **kw: Any) -> Experiment:
    kw.setdefault("variations", ("control", "v1", "v2"))
    return Experiment(key="e", status=status, **kw)  # type: ignore[arg-type]


W3 = Phase(coverage=0.3, weights=(0.2, 0.3, 0.5), groups=("beta",))

# (name, experiment, policy, expected override or None)
TABLE: list[tuple[str, Experiment, str, dict[str, Any] | None]] = [
    ("archived running", exp("running", phases=(W3,), archived=True), "winners-only", None),
    ("archived stopped winner", exp("stopped", winner=1, archived=True), "force-control", None),
    ("draft without phases", exp("draft"), "winners-only", {"status": "draft"}),
    (
        "draft with url and phase",
        exp("draft", url="^/a$", phases=(W3,)),
        "winners-only",
        {
            "status": "draft",
            "weights": [0.2, 0.3, 0.5],
            "coverage": 0.3,
            "groups": ["beta"],
            "url": "^/a$",
        },
    ),
    (
        "running uses the last phase",
        exp("running", phases=(Phase(1.0, (0.5, 0.25, 0.25)), W3)),
        "winners-only",
        {"status": "running", "weights": [0.2, 0.3, 0.5], "coverage": 0.3, "groups": ["beta"]},
    ),
    (
        "running without groups, with url",
        exp("running", url="^/post/[0-9]+$", phases=(Phase(1.0, (0.5, 0.25, 0.25)),)),
        "winners-only",
        {"status": "running", "weights": [0.5, 0.25, 0.25], "coverage": 1, "url": "^/post/[0-9]+$"},
    ),
    (
        "stopped with a non-control winner",
        exp("stopped", winner=2, url="^/x", phases=(W3,)),
        "winners-only",
        {"status": "stopped", "force": 2, "weights": [0.2, 0.3, 0.5], "coverage": 1, "url": "^/x"},
    ),
    (
        "stopped winner without phases",
        exp("stopped", winner=1),
        "winners-only",
        {"status": "stopped", "force": 1, "coverage": 1},
    ),
    (
        "stopped winner, force-control policy changes nothing",
        exp("stopped", winner=1, phases=(W3,)),
        "force-control",
        {"status": "stopped", "force": 1, "weights": [0.2, 0.3, 0.5], "coverage": 1},
    ),
    ("stopped no winner, winners-only", exp("stopped", phases=(W3,)), "winners-only", None),
    (
        "stopped winner 0, winners-only",
        exp("stopped", winner=0, phases=(W3,)),
        "winners-only",
        None,
    ),
    (
        "stopped no winner, force-control",
        exp("stopped", phases=(W3,), url="^/y"),
        "force-control",
        {"status": "stopped", "force": 0, "weights": [0.2, 0.3, 0.5], "coverage": 1, "url": "^/y"},
    ),
    (
        "stopped winner 0, force-control, no phases",
        exp("stopped", winner=0),
        "force-control",
        {"status": "stopped", "force": 0, "coverage": 1},
    ),
]


@pytest.mark.parametrize(
    ("name", "experiment", "policy", "expected"), TABLE, ids=[r[0] for r in TABLE]
)
def test_override_table(
    name: str, experiment: Experiment, policy: str, expected: dict[str, Any] | None
) -> None:
    """Each row of the §3 table renders exactly these fields, in this order."""
    got = render_override(experiment, policy)  # type: ignore[arg-type]
    assert got == expected
    if expected is not None:
        assert got is not None
        assert list(got) == list(expected)


def org(oid: str, keys: tuple[ApiKey, ...], exps: tuple[Experiment, ...]) -> Organization:
    return Organization(id=oid, api_keys=keys, experiments=exps)


def running(key: str, project: str | None = None) -> Experiment:
    return Experiment(
        key=key, status="running", variations=("a", "b"), phases=(P1,), project=project
    )


def overrides_of(state: State, key: str, policy: str = "winners-only") -> dict[str, Any]:
    doc = render_documents(state, policy).documents[key]  # type: ignore[arg-type]
    value: dict[str, Any] = json.loads(doc.body)
    return value["overrides"]


def test_project_key_sees_only_its_project() -> None:
    """A key with a project gets that project's experiments, not unscoped ones."""
    state = State(
        (
            org(
                "acme",
                (ApiKey("key_all_00000001"), ApiKey("key_chk_00000001", project="checkout")),
                (running("plain"), running("chk", "checkout"), running("other", "search")),
            ),
        )
    )
    assert sorted(overrides_of(state, "key_all_00000001")) == ["chk", "other", "plain"]
    assert sorted(overrides_of(state, "key_chk_00000001")) == ["chk"]


def test_organizations_never_see_each_other() -> None:
    """Keys of different organizations get only their own organization's experiments."""
    state = State(
        (
            org("a", (ApiKey("key_org_a_0001"),), (running("only-a"),)),
            org("b", (ApiKey("key_org_b_0001"),), (running("only-b"),)),
        )
    )
    assert list(overrides_of(state, "key_org_a_0001")) == ["only-a"]
    assert list(overrides_of(state, "key_org_b_0001")) == ["only-b"]


def test_revoked_key_gets_no_document() -> None:
    """A revoked key has no document but is still known (for reporting and prune)."""
    state = State((org("a", (ApiKey("key_revoked_01", revoked=True),), (running("x"),)),))
    rendered = render_documents(state)
    assert rendered.documents == {}
    assert rendered.keys["key_revoked_01"].revoked


def test_archived_left_out_of_document() -> None:
    """Archived experiments never reach a document."""
    archived = Experiment("old", "running", ("a", "b"), (P1,), archived=True)
    state = State((org("a", (ApiKey("key_archive_01"),), (archived, running("new"))),))
    assert list(overrides_of(state, "key_archive_01")) == ["new"]


def test_keys_of_a_scope_share_one_document() -> None:
    """Keys with the same organization and project share one rendered document object."""
    keys = (
        ApiKey("key_share_0001"),
        ApiKey("key_share_0002"),
        ApiKey("key_share_0003", project="p"),
    )
    state = State((org("a", keys, (running("x"), running("y", "p"))),))
    docs = render_documents(state).documents
    assert docs["key_share_0001"] is docs["key_share_0002"]
    assert docs["key_share_0003"] is not docs["key_share_0001"]
    assert len(render_documents(state).distinct()) == 2


CANON_STATE = """
version: 1
organizations:
  - id: a
    api_keys: [{key: key_canon_0001}]
    experiments:
      - {key: zeta, status: running, variations: [a, b], phases: [{coverage: COV, weights: [W1, W0]}]}
      - key: Ålpha
        status: running
        variations: [a, b]
        phases: [{coverage: 0.25, weights: [0.5, 0.5], groups: [gruppe-ü]}]
      - {key: alpha, status: draft, variations: [a, b]}
"""


@pytest.mark.parametrize(("cov", "w1", "w0"), [("1.0", "1.0", "0.0"), ("1", "1", "0")])
def test_bytes_are_canonical(cov: str, w1: str, w0: str) -> None:
    """Compact UTF-8, status first, override keys sorted, 1.0 written as 1, stable across runs."""
    text = CANON_STATE.replace("COV", cov).replace("W1", w1).replace("W0", w0)
    state = parse_state(text.encode(), "yaml")
    body = render_documents(state).documents["key_canon_0001"].body
    assert (
        body
        == (
            '{"status":200,"overrides":{"alpha":{"status":"draft"},'
            '"zeta":{"status":"running","weights":[1,0],"coverage":1},'
            '"Ålpha":{"status":"running","weights":[0.5,0.5],"coverage":0.25,"groups":["gruppe-ü"]}}}'
        ).encode()
    )
    parsed = json.loads(body)
    assert body == json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()
    assert render_documents(state).documents["key_canon_0001"].body == body


def test_empty_organization_gets_empty_overrides() -> None:
    """A key whose organization has no experiments gets an empty overrides map."""
    state = State((org("a", (ApiKey("key_empty_0001"),), ()),))
    assert (
        render_documents(state).documents["key_empty_0001"].body == b'{"status":200,"overrides":{}}'
    )
