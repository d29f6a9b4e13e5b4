"""A corpus of bad states: each exits 3 with the exact location, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import KEY_A, base_state, dump_state, run_cli, tree, unnamed

BAD = Path(__file__).parent / "bad_states"

# file → every line its error must print (after the file name, `:line: location: message`)
EXPECTED: dict[str, list[str]] = {
    "api-key-bad-chars.yaml": [
        "api-key-bad-chars.yaml:5: organizations[0].api_keys[0].key (acme): 'key/../.…sswd' does not match the pattern ^[A-Za-z0-9_-]{8,128}$",
    ],
    "bad-indent.yaml": [
        "bad-indent.yaml:8: invalid YAML: while parsing a block collection did not find expected '-' indicator",
    ],
    "bad-org-id.yaml": [
        "bad-org-id.yaml:3: organizations[0].id (Acme Corp): 'Acme Corp' does not match the pattern ^[a-z0-9][a-z0-9_-]{0,63}$",
    ],
    "bad-regex.yaml": [
        "bad-regex.yaml:8: organizations[0].experiments[0].url (acme/e1): not a valid regular expression: missing ), unterminated subpattern at position 7",
    ],
    "bad-status.yaml": [
        "bad-status.yaml:8: organizations[0].experiments[0].status (acme/e1): 'paused' is not one of: draft, running, stopped",
    ],
    "bad-yaml.yaml": [
        "bad-yaml.yaml:10: invalid YAML: while parsing a flow sequence did not find expected ',' or ']'",
    ],
    "coverage-out-of-range.yaml": [
        "coverage-out-of-range.yaml:11: organizations[0].experiments[0].phases[0].coverage (acme/e1): 1.2 is out of range: must be at most 1",
    ],
    "coverage-string.yaml": [
        "coverage-string.yaml:11: organizations[0].experiments[0].phases[0].coverage (acme/e1): expected a number, got str 'full'",
    ],
    "duplicate-api-key.yaml": [
        "duplicate-api-key.yaml:15: organizations[1].api_keys[0].key (other): duplicate API key: already used at organizations[0].api_keys[0].key (keys are unique across all organizations)",
    ],
    "duplicate-experiment-key.yaml": [
        "duplicate-experiment-key.yaml:13: organizations[0].experiments[1].key (acme/e1): duplicate experiment key 'e1' in this organization: first used at index 0",
    ],
    "duplicate-org-id.yaml": [
        "duplicate-org-id.yaml:13: organizations[1].id (acme): duplicate organization id 'acme': first used at index 0",
    ],
    "duplicate-yaml-key.yaml": [
        "duplicate-yaml-key.yaml:9: organizations[0].experiments[0].status: duplicate key: it is given twice",
    ],
    "empty.yaml": [
        "empty.yaml:1: the file is empty: expected `version: 1` and `organizations`",
    ],
    "groups-not-unique.yaml": [
        "groups-not-unique.yaml:13: organizations[0].experiments[0].phases[0].groups (acme/e1): has duplicate items",
    ],
    "malformed-api-key.yaml": [
        "malformed-api-key.yaml:5: organizations[0].api_keys[0].key (acme): 'sho…' does not match the pattern ^[A-Za-z0-9_-]{8,128}$",
    ],
    "missing-organizations.yaml": [
        "missing-organizations.yaml:1: missing required field 'organizations'",
    ],
    "not-a-mapping.yaml": [
        "not-a-mapping.yaml:1: expected a mapping, got a list",
    ],
    "one-variation.yaml": [
        "one-variation.yaml:9: organizations[0].experiments[0].variations (acme/e1): needs at least 2 items, got 1",
    ],
    "only-comments.yaml": [
        "only-comments.yaml:1: the file is empty: expected `version: 1` and `organizations`",
    ],
    "python-only-regex.yaml": [
        "python-only-regex.yaml:8: organizations[0].experiments[0].url (acme/e1): uses Python-only regex syntax the SDKs cannot run: named groups `(?P<...>`: use `(?<name>...)`",
    ],
    "revoked-not-bool.yaml": [
        "revoked-not-bool.yaml:6: organizations[0].api_keys[0].revoked (acme): expected true or false, got str 'maybe'",
    ],
    "running-empty-phases.yaml": [
        "running-empty-phases.yaml:10: organizations[0].experiments[0].phases (acme/e1): a running experiment needs at least one phase",
    ],
    "running-without-phases.yaml": [
        "running-without-phases.yaml:7: organizations[0].experiments[0].phases (acme/e1): a running experiment needs at least one phase",
    ],
    "unknown-field-typo.yaml": [
        "unknown-field-typo.yaml:11: organizations[0].experiments[0].phases[0] (acme/e1): missing required field 'weights'",
        "unknown-field-typo.yaml:12: organizations[0].experiments[0].phases[0].weigths (acme/e1): unknown field: did you mean 'weights'? allowed here: coverage, groups, weights",
    ],
    "unknown-top-field.yaml": [
        "unknown-top-field.yaml:13: organisations: unknown field: did you mean 'organizations'? allowed here: organizations, version",
    ],
    "variations-not-list.yaml": [
        "variations-not-list.yaml:9: organizations[0].experiments[0].variations (acme/e1): expected a list, got str 'a'",
    ],
    "webhook-not-http.yaml": [
        "webhook-not-http.yaml:5: organizations[0].webhooks[0].url (acme): 'ftp://example.invalid/hook' does not match the pattern ^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+[^\\s]*$",
    ],
    "weight-out-of-range.yaml": [
        "weight-out-of-range.yaml:12: organizations[0].experiments[0].phases[0].weights[0] (acme/e1): 1.5 is out of range: must be at most 1",
        "weight-out-of-range.yaml:12: organizations[0].experiments[0].phases[0].weights[1] (acme/e1): -0.5 is out of range: must be at least 0",
    ],
    "weights-length.yaml": [
        "weights-length.yaml:12: organizations[0].experiments[0].phases[0].weights (acme/e1): has 3 weights for 2 variations: give one weight per variation",
    ],
    "weights-sum.yaml": [
        "weights-sum.yaml:12: organizations[0].experiments[0].phases[0].weights (acme/e1): weights sum to 0.9, not 1 (tolerance 1e-06)",
    ],
    "winner-negative.yaml": [
        "winner-negative.yaml:9: organizations[0].experiments[0].winner (acme/e1): -1 is out of range: must be at least 0",
    ],
    "winner-on-running.yaml": [
        "winner-on-running.yaml:9: organizations[0].experiments[0].winner (acme/e1): winner is only allowed on a stopped experiment, this one is running",
    ],
    "winner-out-of-range.yaml": [
        "winner-out-of-range.yaml:9: organizations[0].experiments[0].winner (acme/e1): winner 2 is not a variation index: there are 2 variations (0-1)",
    ],
    "wrong-version.yaml": [
        "wrong-version.yaml:1: version: must be 1, got int 2",
    ],
}


def test_corpus_is_complete() -> None:
    """Every bad state file has its expected messages, and there are at least 25."""
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_state_is_rejected(name: str, tmp_path: Path) -> None:
    """The publish exits 3, prints each problem with its line and location, writes nothing."""
    target = tmp_path / "public"
    good = dump_state(tmp_path / "good.yaml", base_state())
    assert run_cli("publish", good, "--target", target).exit_code == 0
    before = tree(target)
    source = tmp_path / name
    source.write_bytes((BAD / name).read_bytes())
    result = run_cli("publish", source, "--target", target, "--prune", "--force")
    assert result.exit_code == 3
    printed = [line.strip() for line in result.stderr.splitlines()]
    for line in EXPECTED[name]:
        assert f"{tmp_path}/{line}" in printed
    assert "Traceback" not in result.stderr
    assert tree(target) == before
    assert (target / "config" / KEY_A).exists()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_reports_the_same(name: str) -> None:
    """`publisher validate` prints the same lines and exits 3."""
    result = run_cli("validate", BAD / name)
    assert result.exit_code == 3
    printed = [line.strip() for line in result.stderr.splitlines()]
    for line in EXPECTED[name]:
        assert f"{BAD}/{line}" in printed


def test_every_problem_reported_in_one_run(tmp_path: Path) -> None:
    """Several problems in one file are all reported at once, in line order."""
    state = base_state()
    exp = state["organizations"][0]["experiments"][0]
    exp["phases"][0]["weights"] = [0.5, 0.6]
    exp["status"] = "paused"
    state["organizations"][1]["id"] = "acme"
    source = dump_state(tmp_path / "many.yaml", state)
    result = run_cli("validate", source)
    assert result.exit_code == 3
    assert "3 problems" in result.stderr
    shown = unnamed(result.stderr)
    assert "organizations[0].experiments[0].status" in shown
    assert "organizations[0].experiments[0].phases[0].weights: weights sum to 1.1" in shown
    assert "organizations[1].id: duplicate organization id 'acme'" in shown


def test_json_state_problems_have_locations(tmp_path: Path) -> None:
    """A JSON state reports the same locations as YAML, with the line of each."""
    state = base_state()
    state["organizations"][0]["experiments"][0]["winner"] = 5
    source = tmp_path / "s.json"
    text = json.dumps(state, indent=2)
    source.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"winner": 5' in t)
    result = run_cli("validate", source)
    assert result.exit_code == 3
    assert (
        f"{source}:{line}: organizations[0].experiments[0].winner: winner is only allowed on a "
        "stopped experiment, this one is running"
    ) in unnamed(result.stderr)


def test_json_syntax_error_has_a_line(tmp_path: Path) -> None:
    """Invalid JSON names its line."""
    source = tmp_path / "s.json"
    source.write_text('{"version": 1,\n "organizations": [\n}')
    result = run_cli("validate", source)
    assert result.exit_code == 3
    assert f"{source}:3: invalid JSON" in result.stderr


def test_json_duplicate_key(tmp_path: Path) -> None:
    """A key given twice in a JSON object is an error, not a silent overwrite."""
    source = tmp_path / "s.json"
    source.write_text('{"version": 1, "version": 1, "organizations": []}')
    result = run_cli("validate", source)
    assert result.exit_code == 3
    assert "duplicate key 'version'" in result.stderr


def test_unknown_extension_is_a_usage_error(tmp_path: Path) -> None:
    """A state file of another format exits 2 and says which formats work."""
    source = tmp_path / "s.toml"
    source.write_text("")
    result = run_cli("validate", source)
    assert result.exit_code == 2
    assert "use .yaml, .yml or .json" in result.stderr
