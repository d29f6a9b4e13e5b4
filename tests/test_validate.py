"""`publisher validate` as pre-commit and CI call it: several files, stdin, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import base_state, dump_state, run_cli


def broken(path: Path) -> Path:
    """A state with one problem: a coverage over 1 at its line."""
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 2
    return dump_state(path, state)


def test_several_files_are_each_checked(tmp_path: Path) -> None:
    """Every file is checked and reported; one invalid file makes the exit 3."""
    good = dump_state(tmp_path / "good.yaml", base_state())
    other = tmp_path / "other.json"
    other.write_text(json.dumps(base_state()))
    both = run_cli("validate", good, other)
    assert both.exit_code == 0, both.stderr
    assert both.stdout.splitlines() == [
        f"{good}: valid: 2 organizations, 3 documents (3 distinct), 0 revoked keys",
        f"{other}: valid: 2 organizations, 3 documents (3 distinct), 0 revoked keys",
    ]
    bad = broken(tmp_path / "bad.yaml")
    mixed = run_cli("validate", good, bad, other)
    assert mixed.exit_code == 3
    assert mixed.stdout.count(": valid: ") == 2
    assert f"error: {bad}: 1 problem" in mixed.stderr
    assert f"{bad}:16: organizations[0].experiments[0].phases[0].coverage" in mixed.stderr


def test_a_missing_file_is_exit_2_unless_another_is_invalid(tmp_path: Path) -> None:
    """A file that cannot be read is a usage error (2); with an invalid one beside it, 3."""
    good = dump_state(tmp_path / "good.yaml", base_state())
    missing = run_cli("validate", good, tmp_path / "nope.yaml")
    assert missing.exit_code == 2 and "nope.yaml: no such file" in missing.stderr
    both = run_cli("validate", tmp_path / "nope.yaml", broken(tmp_path / "bad.yaml"))
    assert both.exit_code == 3
    assert "nope.yaml: no such file" in both.stderr and "bad.yaml: 1 problem" in both.stderr


def test_several_files_as_json(tmp_path: Path) -> None:
    """--json with several files: one line, ok and exit_code, and each file's object."""
    good = dump_state(tmp_path / "good.yaml", base_state())
    bad = broken(tmp_path / "bad.yaml")
    result = run_cli("validate", good, bad, "--json")
    assert result.exit_code == 3 and result.stdout.count("\n") == 1
    out = json.loads(result.stdout)
    assert out["ok"] is False and out["exit_code"] == 3
    assert [f["file"] for f in out["files"]] == [str(good), str(bad)]
    assert out["files"][0]["ok"] is True and out["files"][0]["documents"] == 3
    assert out["files"][1]["problems"][0]["line"] == 16


def test_stdin_in_either_format(tmp_path: Path) -> None:
    """`validate -` reads stdin: JSON or YAML, told by --format or by its first byte;
    its problems are located at <stdin>:line."""
    as_yaml = yaml.safe_dump(base_state(), sort_keys=False)
    as_json = json.dumps(base_state(), indent=1)
    for text, fmt in ((as_yaml, []), (as_json, []), (as_yaml, ["--format", "yaml"])):
        result = run_cli("validate", "-", *fmt, input=text)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("<stdin>: valid: 2 organizations, 3 documents")
    bad = broken(tmp_path / "bad.yaml").read_text()
    refused = run_cli("validate", "-", "--format", "yaml", input=bad)
    assert refused.exit_code == 3
    assert "<stdin>:16: organizations[0].experiments[0].phases[0].coverage" in refused.stderr
    wrong = run_cli("validate", "-", "--format", "json", input=as_yaml)
    assert wrong.exit_code == 3 and "<stdin>:1: invalid JSON" in wrong.stderr
    unknown = run_cli("validate", "-", "--format", "toml", input=as_yaml)
    assert unknown.exit_code == 2 and "'toml' is not one of 'yaml', 'json'" in unknown.stderr


def test_stdin_once_beside_files(tmp_path: Path) -> None:
    """`-` may sit among files, once; twice is a usage error."""
    good = dump_state(tmp_path / "good.yaml", base_state())
    text = good.read_text()
    mixed = run_cli("validate", good, "-", input=text)
    assert mixed.exit_code == 0 and mixed.stdout.count(": valid: ") == 2
    twice = run_cli("validate", "-", "-", input=text)
    assert twice.exit_code == 2 and "- (stdin) can be given once" in twice.stderr


def test_format_applies_to_a_file_of_any_name(tmp_path: Path) -> None:
    """--format reads a file whose extension says nothing (a .txt) in that format."""
    path = tmp_path / "state.txt"
    path.write_text(json.dumps(base_state()))
    assert run_cli("validate", path).exit_code == 2  # the extension cannot say
    result = run_cli("validate", path, "--format", "json")
    assert result.exit_code == 0 and result.stdout.startswith(f"{path}: valid: ")


def test_no_secrets_checks_a_state_with_webhooks(tmp_path: Path) -> None:
    """Without the webhook's secret in the environment, validate fails (publish would);
    --no-secrets checks everything else, as pre-commit and pull requests need."""
    state = base_state()
    state["organizations"][0]["webhooks"] = [
        {"url": "https://hooks.example/x", "secret_env": "PUBLISHER_TEST_UNSET_SECRET"}
    ]
    path = dump_state(tmp_path / "hooks.yaml", state)
    strict = run_cli("validate", path)
    assert strict.exit_code == 3 and "PUBLISHER_TEST_UNSET_SECRET is not set" in strict.stderr
    lenient = run_cli("validate", path, "--no-secrets", "--json")
    assert lenient.exit_code == 0, lenient.stderr
    assert json.loads(lenient.stdout)["webhooks"] == 1
    broken_too = broken(tmp_path / "bad.yaml")
    assert run_cli("validate", broken_too, "--no-secrets").exit_code == 3
