"""What a CI job reads of a publish: the per-experiment changes of a real publish (text and
--json), `--dry-run --exit-code`, and `--markdown FILE` (plan or outcome, labels only)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from tests.conftest import KEY_A, KEY_A_CHECKOUT, KEY_G, base_state, dump_state, run_cli
from tests.s3util import BUCKET, CREDENTIALS, Proxy, count, moto_server, s3_client

KEYS = (KEY_A, KEY_A_CHECKOUT, KEY_G)


def changed_state() -> dict[str, Any]:
    """base_state with exp-a's coverage 1 → 0.5 (seen by KEY_A only)."""
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.5
    return state


@pytest.fixture
def live(tmp_path: Path) -> tuple[Path, Path]:
    """A state published to a directory target: (state file, target)."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    target = tmp_path / "site"
    assert run_cli("publish", path, "--target", target).exit_code == 0
    return path, target


# --- a real publish says what changed ---------------------------------------------------


def test_a_publish_prints_what_changed_per_experiment(live: tuple[Path, Path]) -> None:
    """The text of a real publish carries the experiment-level change, as the dry run does."""
    path, target = live
    dump_state(path, changed_state())
    plan = run_cli("publish", path, "--target", target, "--dry-run")
    done = run_cli("publish", path, "--target", target)
    assert done.exit_code == 0, done.stderr
    line = "  ~ acme/key_acme…0001 (prod): exp-a: coverage 1 → 0.5"
    assert line in plan.stdout.splitlines() and line in done.stdout.splitlines()


def test_a_publish_json_carries_the_changes(live: tuple[Path, Path]) -> None:
    """--json of a real publish: each changed key with its experiments' fields, old → new."""
    path, target = live
    dump_state(path, changed_state())
    done = run_cli("publish", path, "--target", target, "--json")
    assert done.exit_code == 0
    out = json.loads(done.stdout)
    assert out["changes"] == [
        {
            "key_label": "key_acme…0001",
            "org": "acme",
            "action": "changed",
            "changes": [
                {"experiment": "exp-a", "kind": "changed", "fields": [["coverage", 1, 0.5]]}
            ],
        }
    ]
    assert not any(key in done.stdout for key in KEYS)


def test_changes_come_from_the_live_document_when_history_lost_it(
    live: tuple[Path, Path],
) -> None:
    """With the kept bodies gone, the old side is read from what is live: still described."""
    path, target = live
    shutil.rmtree(target / "_publisher" / "bodies")
    dump_state(path, changed_state())
    done = run_cli("publish", path, "--target", target)
    assert done.exit_code == 0, done.stderr
    assert "exp-a: coverage 1 → 0.5" in done.stdout


# --- --dry-run --exit-code ----------------------------------------------------------------


def test_exit_code_says_whether_anything_would_change(live: tuple[Path, Path]) -> None:
    """0 when the target is up to date, 1 when a document would be put; the plan prints
    either way, and nothing is written."""
    path, target = live
    same = run_cli("publish", path, "--target", target, "--dry-run", "--exit-code")
    assert same.exit_code == 0 and "0 added, 0 changed" in same.stdout
    dump_state(path, changed_state())
    before = sorted(p.name for p in (target / "_publisher").iterdir())
    pending = run_cli("publish", path, "--target", target, "--dry-run", "--exit-code")
    assert pending.exit_code == 1, pending.stderr
    assert "exp-a: coverage 1 → 0.5" in pending.stdout and pending.stderr == ""
    assert sorted(p.name for p in (target / "_publisher").iterdir()) == before
    as_json = run_cli("publish", path, "--target", target, "-n", "--exit-code", "--json")
    assert as_json.exit_code == 1
    out = json.loads(as_json.stdout)
    assert out["exit_code"] == 1 and out["ok"] is True and out["dry_run"] is True
    plain = run_cli("publish", path, "--target", target, "--dry-run")
    assert plain.exit_code == 0  # without --exit-code a dry run is a success


def test_exit_code_counts_deletes_only_with_prune(live: tuple[Path, Path]) -> None:
    """A revoked key's document: a change with --prune, none without (it stays)."""
    path, target = live
    state = base_state()
    state["organizations"][1]["api_keys"][0]["revoked"] = True
    dump_state(path, state)
    kept = run_cli("publish", path, "--target", target, "--dry-run", "--exit-code")
    assert kept.exit_code == 0 and "1 left in place" in kept.stdout
    pruned = run_cli("publish", path, "--target", target, "-n", "--prune", "--exit-code")
    assert pruned.exit_code == 1 and "1 to delete" in pruned.stdout


def test_exit_code_without_dry_run_is_a_usage_error(live: tuple[Path, Path]) -> None:
    """--exit-code describes a plan: on a real publish it is refused before anything runs."""
    path, target = live
    dump_state(path, changed_state())
    result = run_cli("publish", path, "--target", target, "--exit-code")
    assert result.exit_code == 2
    assert result.stderr == "error: --exit-code applies to a dry run: add --dry-run\n"
    assert run_cli("verify", path, "--target", target).exit_code == 1  # still the old one


def test_an_invalid_state_is_still_exit_3(tmp_path: Path) -> None:
    """--exit-code never hides an invalid state behind 'changes pending'."""
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["weights"] = [0.5, 0.6]
    path = dump_state(tmp_path / "s.yaml", state)
    result = run_cli("publish", path, "--target", tmp_path / "t", "-n", "--exit-code")
    assert result.exit_code == 3


# --- --markdown ---------------------------------------------------------------------------


def rendered(markdown: str) -> str:
    """The HTML GitHub-flavoured Markdown makes of it (tables on)."""
    return MarkdownIt("commonmark").enable("table").render(markdown)


def test_markdown_plan_per_organization_and_experiment(
    live: tuple[Path, Path], tmp_path: Path
) -> None:
    """The plan as Markdown: a heading per organization, a row per experiment change with
    before → after and the keys by label; nothing written to the target."""
    path, target = live
    state = changed_state()
    state["organizations"][1]["experiments"][0]["status"] = "running"
    state["organizations"][1]["experiments"][0]["phases"] = [{"coverage": 1, "weights": [1, 0]}]
    dump_state(path, state)
    out = tmp_path / "plan.md"
    result = run_cli("publish", path, "--target", target, "-n", "--exit-code", "--markdown", out)
    assert result.exit_code == 1
    text = out.read_text()
    assert text.startswith(f"### publisher plan: `{target}`\n")
    assert "**Plan (a dry run: nothing changed yet)** · 0 added · 2 changed" in text
    assert "#### acme\n" in text and "#### globex\n" in text
    assert "| exp-a | coverage `1` → `0.5` | `key_acme…0001` (prod) |" in text
    assert (
        '| exp-g | coverage *(none)* → `1`; status `"draft"` → `"running"`; '
        "weights *(none)* → `[1,0]` | `key_glob…0003` |"
    ) in text
    assert not any(key in text for key in KEYS)
    html = rendered(text)
    assert html.count("<table>") == 2 and "<td>exp-a</td>" in html


def test_markdown_of_the_outcome_and_of_nothing_to_do(
    live: tuple[Path, Path], tmp_path: Path
) -> None:
    """After a real publish the Markdown says Published and the generation; with nothing to
    change, that nothing would."""
    path, target = live
    out = tmp_path / "out.md"
    same = run_cli("publish", path, "--target", target, "-n", "--markdown", out)
    assert same.exit_code == 0
    assert "**Nothing would change** · 0 added · 0 changed · 0 left in place · 3 unchanged" in (
        out.read_text()
    )
    dump_state(path, changed_state())
    done = run_cli("publish", path, "--target", target, "--markdown", out)
    assert done.exit_code == 0 and f"Markdown written to {out}" in done.stderr
    text = out.read_text()
    assert text.startswith(f"### publisher publish: `{target}`\n")
    assert "**Published** · 0 added · 1 changed · 0 deleted · 2 unchanged · generation 2" in text
    assert "| exp-a | coverage `1` → `0.5` |" in text


def test_markdown_escapes_text_from_the_state(live: tuple[Path, Path], tmp_path: Path) -> None:
    """A description or experiment key with |, backticks and HTML stays text in one cell."""
    path, target = live
    state = changed_state()
    state["organizations"][0]["api_keys"][0]["description"] = "a | <b>bold</b> `x` *y*"
    state["organizations"][0]["experiments"][0]["key"] = "exp|<i>`"
    dump_state(path, state)
    out = tmp_path / "plan.md"
    assert run_cli("publish", path, "--target", target, "-n", "--markdown", out).exit_code == 0
    html = rendered(out.read_text())
    assert "<b>" not in html and "<i>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    rows = [row for row in html.split("<tr>") if "key_acme…0001" in row]
    assert rows and all(row.count("<td>") == 3 for row in rows)
    assert "exp|&lt;i&gt;`" in html


def test_markdown_never_shows_a_key_the_state_holds(
    live: tuple[Path, Path], tmp_path: Path
) -> None:
    """A key quoted in a description, or an experiment named like a key, is its label in
    the Markdown as in every other output: Markdown's escaping (a backslash before each
    _) must not hide the key from the redaction, in the source or in what it renders."""
    path, target = live
    state = changed_state()
    state["organizations"][0]["api_keys"][0]["description"] = f"rotated from {KEY_G}"
    state["organizations"][0]["experiments"][0]["key"] = KEY_A_CHECKOUT
    dump_state(path, state)
    out = tmp_path / "plan.md"
    assert run_cli("publish", path, "--target", target, "-n", "--markdown", out).exit_code == 0
    text = out.read_text()
    html = rendered(text)
    assert "rotated from key\\_glob…0003" in text and "key_glob…0003" in html
    for key in KEYS:
        assert key not in text and key not in text.replace("\\", "")
        assert key not in html


def test_markdown_is_written_when_the_state_is_invalid(tmp_path: Path) -> None:
    """Exit 3: the Markdown says it failed and lists each problem at its line."""
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["weights"] = [0.5, 0.6]
    path = dump_state(tmp_path / "s.yaml", state)
    out = tmp_path / "plan.md"
    result = run_cli("publish", path, "--target", tmp_path / "t", "-n", "--markdown", out)
    assert result.exit_code == 3
    text = out.read_text()
    assert "**Failed (exit 3)**" in text and "weights sum to 1.1" in text
    assert f"{path.name}:" in text


def test_markdown_never_overwrites_the_state(live: tuple[Path, Path]) -> None:
    """--markdown naming the state file is a usage error before anything runs."""
    path, target = live
    before = path.read_bytes()
    result = run_cli("publish", path, "--target", target, "--markdown", path)
    assert result.exit_code == 2 and "refusing to overwrite the state file" in result.stderr
    assert path.read_bytes() == before


# --- what describing costs on a store ------------------------------------------------------


def distinct_orgs(count: int) -> dict[str, Any]:
    """`count` organizations of two keys each, every one with a document of its own."""
    return {
        "version": 1,
        "organizations": [
            {
                "id": f"org{i}",
                "api_keys": [{"key": f"key_org{i:03d}_{j:010d}"} for j in range(2)],
                "experiments": [
                    {
                        "key": "exp",
                        "status": "running",
                        "variations": ["a", "b"],
                        "phases": [{"coverage": round(0.001 * (i + 1), 3), "weights": [0.5, 0.5]}],
                    }
                ],
            }
            for i in range(count)
        ],
    }


def test_a_small_change_reads_the_old_body_live_not_the_whole_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a cold publish of 80 distinct documents (one pack), a one-organization change
    is described from one GET of its live document; a change to every organization reads
    the pack once instead of a GET per document."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with moto_server() as endpoint:
        client: Any = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        proxy = Proxy(endpoint)
        try:
            state = distinct_orgs(80)
            path = dump_state(tmp_path / "s.yaml", state)
            args = ("--target", f"s3://{BUCKET}", "--endpoint-url", proxy.url)
            assert run_cli("publish", path, *args).exit_code == 0
            proxy.reset()
            state["organizations"][4]["experiments"][0]["phases"][0]["coverage"] = 0.5
            dump_state(path, state)
            small = run_cli("publish", path, *args)
            assert small.exit_code == 0, small.stderr
            assert "  ~ org4/key_org0…0000: exp: coverage 0.005 → 0.5" in small.stdout
            requests = proxy.reset()
            assert count(requests, "GET", "/_publisher/bodies/") == 0
            assert count(requests, "GET", "/config/key_org004_") == 1  # two keys, one body
            for org in state["organizations"]:
                org["experiments"][0]["phases"][0]["weights"] = [0.4, 0.6]
            dump_state(path, state)
            broad = run_cli("publish", path, *args, "--json")
            assert broad.exit_code == 0, broad.stderr
            changes = json.loads(broad.stdout)["changes"]
            assert len(changes) == 160 and all(c["changes"][0]["fields"] for c in changes)
            requests = proxy.reset()
            assert count(requests, "GET", "/config/") == 0
            assert 1 <= count(requests, "GET", "/_publisher/bodies/") <= 2  # gen 1's and 2's
        finally:
            proxy.close()
