"""`publisher publish --markdown FILE`: the plan or the outcome of one publish as Markdown,
for a pull-request comment or a CI job's summary.

Per organization, each experiment that changes with its fields before → after and the
keys (by label) that get that change; new documents; keys deleted or left in place; the
CDN purge and webhooks; for a publish that failed, its problems. Every text from the state
is escaped, values sit in code spans, and the whole passes the same redaction as every
other output: no raw key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..documents.diff import ExperimentChange, shown_value
from ..publishing.result import PublishResult
from ..redact import printable, scrub
from .publish_page import (
    PublishRun,
    change_groups,
    delivery_rows,
    gone_rows,
    steps_done,
    verdict,
)

MAX_ROWS = 200
"""Rows listed in all (a comment has a size limit); --json lists everything."""
MAX_KEYS = 5
"""Keys named in one row; the rest are counted."""
SPECIAL = set("\\`*_{}[]<>()#+!|~&")


def escape(text: str) -> str:
    """Text from the state (a description, an experiment key) as literal Markdown, its
    keys labelled first (a backslash before each _ would hide a key from the redaction)."""
    shown = printable(scrub(text)).replace("\n", " ")
    return "".join(f"\\{c}" if c in SPECIAL else c for c in shown)


def code(text: str) -> str:
    """A value in a code span that no backtick inside it can close (pipes escaped for a
    table cell, as GitHub's tables need), its keys labelled first."""
    shown = printable(scrub(text)).replace("\n", " ").replace("|", "\\|")
    ticks = "`" * (_longest_run(shown) + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") else ""
    return f"{ticks}{pad}{shown}{pad}{ticks}"


def _longest_run(text: str) -> int:
    best = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        best = max(best, run)
    return best


def publish_markdown(run: PublishRun) -> str:
    """The Markdown of a publish or a dry run, failed or not (a string: the caller writes
    it)."""
    result = run.result
    _, headline = verdict(run)
    kind = "plan" if result is not None and result.dry_run else "publish"
    if result is not None and result.dry_run and run.exit_code == 0:
        busy = result.plan.puts or (run.prune and result.plan.deletes)
        headline = "Plan (a dry run: nothing changed yet)" if busy else "Nothing would change"
    lines = [f"### publisher {kind}: {code(run.target)}", "", f"**{headline}**"]
    if result is not None:
        lines[-1] += " · " + " · ".join(f"{n:,} {name}" for name, n in _counts(result, run.prune))
        if result.generation is not None and not result.dry_run:
            lines[-1] += f" · generation {result.generation}"
        lines += _changes(result)
        lines += _gone(result, run.prune)
        lines += _delivery(result)
    lines += _failure(run)
    return scrub("\n".join(lines).rstrip() + "\n")


def _counts(result: PublishResult, prune: bool) -> list[tuple[str, int]]:
    plan = result.plan
    if result.dry_run:
        gone = ("to delete" if prune else "left in place", len(plan.deletes))
    else:
        gone = ("deleted", len(result.deleted))
    rows = [("added", plan.count("added")), ("changed", plan.count("changed")), gone]
    return [*rows, ("unchanged", plan.unchanged)]


def _changes(result: PublishResult) -> list[str]:
    """Per organization: a table of experiment, change and keys."""
    rows: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = {}
    for group in change_groups(result):
        org_rows = rows.setdefault(group["org"], {})
        for experiment, change in _described(group["reason"], group["changes"]):
            org_rows.setdefault((experiment, change), []).extend(group["keys"])
    lines: list[str] = []
    listed = 0
    for org, changes in sorted(rows.items()):
        lines += ["", f"#### {escape(org)}", "", "| experiment | before → after | keys |"]
        lines.append("|---|---|---|")
        for (experiment, change), keys in changes.items():
            if listed == MAX_ROWS:
                break
            lines.append(f"| {experiment} | {change} | {_keys(keys)} |")
            listed += 1
    total = sum(len(changes) for changes in rows.values())
    if total > listed:
        lines += ["", f"… and {total - listed:,} more rows (`--json` lists every change)"]
    return lines


def _described(reason: str, changes: list[ExperimentChange]) -> Iterable[tuple[str, str]]:
    """(experiment, what changes) rows of one change to a document."""
    if reason == "added":
        count = len(changes)
        yield "*new document*", f"{count:,} experiment{'' if count == 1 else 's'}"
        return
    if not changes:
        yield "*changed*", "not known (the old document could not be read)"
        return
    for change in changes:
        name = escape(change.experiment)
        if change.kind != "changed":
            yield name, change.kind
        else:
            yield (
                name,
                "; ".join(
                    f"{escape(field)} {_value(old)} → {_value(new)}"
                    for field, old, new in change.fields
                ),
            )


def _value(value: Any) -> str:
    return "*(none)*" if value is None else code(shown_value(value))


def _keys(keys: list[dict[str, Any]]) -> str:
    named = [
        code(k["label"]) + (f" ({escape(k['description'])})" if k.get("description") else "")
        for k in keys[:MAX_KEYS]
    ]
    more = len(keys) - MAX_KEYS
    return ", ".join(named) + (f" and {more:,} more" if more > 0 else "")


def _gone(result: PublishResult, prune: bool) -> list[str]:
    rows = gone_rows(result, prune)
    if not rows:
        return []
    lines = ["", "#### Keys revoked or removed", ""]
    for row in rows[:MAX_ROWS]:
        org = f"{escape(row['org'])}/" if row.get("org") else ""
        lines.append(f"- {org}{code(row['label'])}: {row['why']}; {row['action']}")
    if len(rows) > MAX_ROWS:
        lines.append(f"- … and {len(rows) - MAX_ROWS:,} more")
    return lines


def _delivery(result: PublishResult) -> list[str]:
    rows = delivery_rows(result)
    if not rows:
        return []
    return ["", *(f"- {escape(what)}: {escape(text)}" for what, _, text in rows)]


def _failure(run: PublishRun) -> list[str]:
    """What stopped a failed publish: its error, problems and what was done."""
    if run.error is None and not run.interrupted:
        return []
    lines = [""]
    if run.error is not None:
        lines.append(f"**Error:** {escape(run.error.message)}")
        lines += [f"- {escape(str(problem))}" for problem in run.error.problems[:MAX_ROWS]]
    lines += [
        f"- {'done' if done else 'not done'}: {escape(text)}" for done, text in steps_done(run)
    ]
    return lines
