"""JSON states are read one organization at a time; every shape of input still gets its error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from publisher.documents.render import render_documents
from publisher.errors import StateError
from publisher.state import load_state, parse_state
from tests.conftest import base_state, unnamed

GOOD = base_state()


def messages(text: str) -> list[str]:
    with pytest.raises(StateError) as err:
        parse_state(text.encode(), "json", "s.json")
    return [unnamed(str(p)) for p in err.value.problems]


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(GOOD),
        json.dumps(GOOD, indent=4),
        json.dumps({"organizations": GOOD["organizations"], "version": 1}),
        " \n" + json.dumps(GOOD) + "\n\n",
    ],
)
def test_layouts_give_the_same_state(text: str, tmp_path: Path) -> None:
    """Whitespace and key order do not change the state read."""
    expected = render_documents(parse_state(json.dumps(GOOD).encode(), "json"))
    got = render_documents(parse_state(text.encode(), "json"))
    assert {k: d.body for k, d in got.documents.items()} == {
        k: d.body for k, d in expected.documents.items()
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[]", "s.json:1: expected a mapping, got a list"),
        ("null", "s.json:1: expected an object with `version` and `organizations`, got null"),
        ("{}", "s.json:1: missing required field 'organizations'"),
        ("{}", "s.json:1: missing required field 'version'"),
        (
            '{"version": 1, "organizations": "x"}',
            "s.json:1: organizations: expected a list, got str 'x'",
        ),
        ('{"version": 1, "organizations": []} x', "s.json:1: invalid JSON: Extra data (column 37)"),
        (
            '{"version": 1, "organizations": [], "organizations": []}',
            "s.json: duplicate key 'organizations' in a JSON object",
        ),
        (
            '{"version": 1,\n "organizations": [{"id": "a",}]}',
            "s.json:2: invalid JSON: Expecting property name enclosed in double quotes (column 31)",
        ),
        (
            '{"version": 1, "organizations": [{"id": "a"} {"id": "b"}]}',
            "s.json:1: invalid JSON: Expecting ',' delimiter (column 46)",
        ),
        ("", "s.json:1: invalid JSON: Expecting value (column 1)"),
        (
            '{"version": 1, "organizations": [{"id": "A"}], "extra": 1}',
            "s.json:1: extra: unknown field",
        ),
    ],
)
def test_bad_json_shapes(text: str, expected: str) -> None:
    """Each malformed JSON state reports its problem, with a line for syntax errors."""
    found = messages(text)
    assert any(m.startswith(expected) for m in found), found


def test_problems_in_several_organizations_all_reported() -> None:
    """Problems of different organizations are all listed, with their paths."""
    state = base_state()
    state["organizations"][0]["experiments"][0]["status"] = "paused"
    state["organizations"][1]["api_keys"][0]["key"] = state["organizations"][0]["api_keys"][0][
        "key"
    ]
    found = messages(json.dumps(state))
    assert any("organizations[0].experiments[0].status" in m for m in found)
    assert any("organizations[1].api_keys[0].key: duplicate API key" in m for m in found)


def test_lone_surrogate_is_an_error(tmp_path: Path) -> None:
    """A \\ud800 escape cannot be written as UTF-8: a clear error, not a crash."""
    state = base_state()
    state["organizations"][0]["experiments"][0]["key"] = "\ud800"
    path = tmp_path / "s.json"
    path.write_text(json.dumps(state))
    with pytest.raises(StateError) as err:
        load_state(path)
    assert (
        "organizations[0].experiments[0].key (acme/\\ud800): contains an unpaired surrogate"
        in str(err.value.problems[0])
    )
