"""`publisher keys`: create, list and revoke, keeping the state file's comments and layout."""

from __future__ import annotations

import difflib
import json
import re
from importlib.resources import files
from pathlib import Path

import pytest

from publisher.state import load_state
from tests.conftest import KEY_A, base_state, run_cli, write_yaml

KEY_RE = re.compile(r"key_[0-9a-f]{32}")


@pytest.fixture
def example(tmp_path: Path) -> Path:
    path = tmp_path / "experiments.yaml"
    path.write_bytes(files("publisher").joinpath("data/example.yaml").read_bytes())
    return path


def added_lines(before: str, after: str) -> list[str]:
    """The lines `after` adds to `before`; fails if any line of `before` was changed or removed."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    assert not [d for d in diff if d.startswith("- ")], "a line of the original changed"
    return [d[2:] for d in diff if d.startswith("+ ")]


def test_create_adds_key_and_keeps_comments(example: Path) -> None:
    """The new key is printed, added under its organization, and every other byte stays."""
    before = example.read_text()
    result = run_cli(
        "keys", "create", example, "--org", "globex", "--description", "CI: nightly, yes"
    )
    assert result.exit_code == 0, result.stderr
    key = result.stdout.strip()
    assert KEY_RE.fullmatch(key)
    assert added_lines(before, example.read_text()) == [
        f"      - key: {key}",
        '        description: "CI: nightly, yes"',
    ]
    state = load_state(example)
    globex = next(o for o in state.organizations if o.id == "globex")
    assert globex.api_keys[-1].key == key
    assert globex.api_keys[-1].description == "CI: nightly, yes"


def test_create_with_project_then_publish(example: Path, tmp_path: Path) -> None:
    """A created project key gets a document with only that project's experiments."""
    result = run_cli("keys", "create", example, "--org", "acme", "--project", "checkout")
    key = result.stdout.strip()
    assert run_cli("publish", example, "--target", tmp_path / "public").exit_code == 0
    doc = json.loads((tmp_path / "public" / "config" / key).read_bytes())
    assert list(doc["overrides"]) == ["checkout-button"]


def test_create_keys_are_unique(example: Path) -> None:
    """Two keys created in a row differ (128 random bits each)."""
    first = run_cli("keys", "create", example, "--org", "acme").stdout.strip()
    second = run_cli("keys", "create", example, "--org", "acme").stdout.strip()
    assert first != second
    keys = [k.key for o in load_state(example).organizations for k in o.api_keys]
    assert first in keys and second in keys


def test_create_in_org_without_api_keys(tmp_path: Path) -> None:
    """An organization with no api_keys field gets one, at its own indentation."""
    path = write_yaml(
        tmp_path / "s.yaml",
        """
        version: 1
        organizations:
          - id: solo   # no keys yet
            experiments: []
          - id: other
        """,
    )
    before = path.read_text()
    key = run_cli("keys", "create", path, "--org", "solo").stdout.strip()
    assert added_lines(before, path.read_text()) == ["    api_keys:", f"      - key: {key}"]
    assert load_state(path).organizations[0].api_keys[0].key == key


def test_create_in_flow_style_list(tmp_path: Path) -> None:
    """A flow-style `api_keys: []` gets the new key inside its brackets."""
    path = write_yaml(
        tmp_path / "s.yaml",
        """
        version: 1
        organizations:
          - {id: flow, api_keys: []}
        """,
    )
    result = run_cli("keys", "create", path, "--org", "flow")
    assert result.exit_code == 2
    assert "flow style" in result.stderr
    path2 = write_yaml(
        tmp_path / "s2.yaml",
        """
        version: 1
        organizations:
          - id: flow
            api_keys: []  # none yet
        """,
    )
    key = run_cli("keys", "create", path2, "--org", "flow", "--description", "true").stdout.strip()
    assert f'api_keys: [{{key: {key}, description: "true"}}]  # none yet' in path2.read_text()
    assert load_state(path2).organizations[0].api_keys[0].description == "true"


def test_create_unknown_org_changes_nothing(example: Path) -> None:
    """An unknown organization exits 2, lists the known ones, and leaves the file as it was."""
    before = example.read_bytes()
    result = run_cli("keys", "create", example, "--org", "nope")
    assert result.exit_code == 2
    assert "no organization 'nope' in the state (there are: acme, globex)" in result.stderr
    assert example.read_bytes() == before


def test_create_refuses_an_invalid_state(tmp_path: Path) -> None:
    """Keys are not edited in a state that does not validate (exit 3, file untouched)."""
    path = write_yaml(tmp_path / "s.yaml", "version: 2\norganizations: []\n")
    result = run_cli("keys", "create", path, "--org", "acme")
    assert result.exit_code == 3
    assert "fix the state before editing its keys" in result.stderr
    assert path.read_text() == "version: 2\norganizations: []\n"


def test_create_in_json_state(tmp_path: Path) -> None:
    """A JSON state gets the key too (JSON has no comments; it is re-indented)."""
    path = tmp_path / "s.json"
    path.write_text(json.dumps(base_state()))
    key = run_cli("keys", "create", path, "--org", "globex").stdout.strip()
    assert json.loads(path.read_text())["organizations"][1]["api_keys"][-1] == {"key": key}


def test_revoke_keeps_the_rest_of_the_file(example: Path, tmp_path: Path) -> None:
    """Revoke adds `revoked: true` to that key only; the next --prune deletes its document."""
    target = tmp_path / "public"
    key = "key_demo_checkout_fedcba9876543210"
    assert run_cli("publish", example, "--target", target).exit_code == 0
    before = example.read_text()
    result = run_cli("keys", "revoke", example, key)
    assert result.exit_code == 0, result.stderr
    assert key not in result.stdout
    assert added_lines(before, example.read_text()) == ["        revoked: true"]
    assert run_cli("publish", example, "--target", target, "--prune").exit_code == 0
    assert not (target / "config" / key).exists()


def test_revoke_replaces_revoked_false(tmp_path: Path) -> None:
    """An explicit `revoked: false` is flipped in place."""
    path = write_yaml(
        tmp_path / "s.yaml",
        f"""
        version: 1
        organizations:
          - id: acme
            api_keys:
              - key: {KEY_A}
                revoked: false   # still in use
                description: d
        """,
    )
    run_cli("keys", "revoke", path, KEY_A)
    assert "    revoked: true   # still in use\n" in path.read_text()
    assert load_state(path).organizations[0].api_keys[0].revoked


def test_revoke_unknown_key(example: Path) -> None:
    """An unknown key exits 2 without echoing it, and the file is unchanged."""
    before = example.read_bytes()
    result = run_cli("keys", "revoke", example, "key_not_there_123456789")
    assert result.exit_code == 2
    assert "key_not_there_123456789" not in result.stderr
    assert example.read_bytes() == before


def test_list_shows_labels_unless_revealed(example: Path) -> None:
    """`keys list` shows labels; --reveal shows whole keys; --json is machine-readable."""
    listed = run_cli("keys", "list", example).stdout
    lines = listed.splitlines()
    assert lines[0].split() == ["ORG", "KEY", "PROJECT", "REVOKED", "DESCRIPTION"]
    assert lines[1].split() == ["acme", "key_demo…cdef", "-", "no", "Production", "servers"]
    assert lines[2].split()[:4] == ["acme", "key_demo…3210", "checkout", "no"]
    assert lines[3].split()[:4] == ["acme", "key_demo…beef", "-", "yes"]
    assert "key_demo_prod_0123456789abcdef" not in listed
    assert "key_demo_prod_0123456789abcdef" in run_cli("keys", "list", example, "--reveal").stdout
    rows = json.loads(run_cli("keys", "list", example, "--json").stdout)
    assert rows[1] == {
        "org": "acme",
        "key_label": "key_demo…3210",
        "project": "checkout",
        "description": "Checkout service",
        "revoked": False,
    }
