"""`publisher publish --report FILE.html`: one self-contained page about one publish.

What it did (target, generation, counts, time per stage), every changed key with its
experiment-level changes before → after (keys that got the same change in one
organization share a row), what was deleted or left in place, the CDN purge, webhooks
and edges, and a refusal. Written when the publish failed too: the error, its problems
with their `file:line`, and what was and was not done, from the stages it went through.
Only labels reach the template, never a raw key; jinja2 escapes every value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..documents.diff import ExperimentChange, diff_documents
from ..errors import EXIT_INVALID, EXIT_LOCKED, EXIT_OK, EXIT_STORAGE, EXIT_USAGE, PublisherError
from ..progress import Span
from ..publishing.result import PublishResult
from ..redact import key_label, url_for_display
from ..settings import VERSION
from . import render_page

STAGES = {
    "load": "Load, render and validate",
    "list": "Read what is live",
    "upload": "Upload",
    "delete": "Delete",
    "purge": "Purge the CDN",
    "webhooks": "Push to webhooks",
}


@dataclass(frozen=True)
class PublishRun:
    """One run of `publisher publish`, as the command line saw it."""

    target: str
    started: datetime
    seconds: float
    spans: list[Span]
    result: PublishResult | None
    error: PublisherError | None
    exit_code: int
    prune: bool = False
    interrupted: bool = False


def publish_page(run: PublishRun) -> str:
    """The HTML of the report (a string: the caller writes it)."""
    result = run.result
    return render_page(
        "publish.html.j2",
        version=VERSION,
        run=run,
        started=run.started.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        took=duration(run.seconds),
        verdict=verdict(run),
        counts=count_rows(result, run.prune) if result else [],
        stages=_stages(run),
        done=steps_done(run),
        advice=_advice(run),
        groups=change_groups(result) if result else [],
        gone=gone_rows(result, run.prune) if result else [],
        delivery=delivery_rows(result) if result else [],
        problems=[_problem(p) for p in run.error.problems] if run.error else [],
    )


def verdict(run: PublishRun) -> tuple[str, str]:
    """(css class, headline)."""
    result = run.result
    if run.interrupted:
        return "failed", "Interrupted"
    if run.exit_code != EXIT_OK:
        return "failed", f"Failed (exit {run.exit_code})"
    if result is not None and result.dry_run:
        return "plan", "Dry run: nothing changed"
    if result is not None and not result.plan.puts and not result.deleted:
        return "plan", "Up to date: nothing to publish"
    return "ok", "Published"


def count_rows(result: PublishResult, prune: bool) -> list[tuple[str, int]]:
    plan, quick = result.plan, result.quick is not None
    gone = "to delete" if result.dry_run and prune else "left in place"
    rows = [
        ("documents", plan.unchanged if quick else result.rendered.count()),
        ("distinct", result.quick if quick and result.quick else result.rendered.distinct_count()),
        ("added", plan.count("added")),
        ("changed", plan.count("changed")),
        ("unchanged", plan.unchanged),
        ("deleted", len(result.deleted)),
        (gone, len(result.left_in_place) + (0 if result.deleted else plan.hidden)),
    ]
    if not result.dry_run:
        rows.append(("written", result.written))
    return rows


def _stages(run: PublishRun) -> list[dict[str, Any]]:
    whole = max(run.seconds, 1e-6)
    rows = []
    for span in sorted(run.spans, key=lambda s: s.start):
        end = span.end if span.end is not None else run.seconds
        rows.append(
            {
                "name": STAGES.get(span.phase, span.phase),
                "time": duration(end - span.start),
                "stopped": span.end is None,
                "count": _items(span),
                "left": 100 * span.start / whole,
                "width": max(100 * (end - span.start) / whole, 0.5),
            }
        )
    return rows


def duration(seconds: float) -> str:
    """`850 ms`, `12.40 s`: a stage's time, readable at either scale."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.001 else "<1 ms"
    return f"{seconds:.2f} s"


def _items(span: Span) -> str:
    """How many items a stage had: how far it got, where it counts and where it stopped."""
    if not span.total:
        return ""
    if span.done or span.end is None:
        return f"{span.done:,} of {span.total:,}"
    return f"{span.total:,}"


def steps_done(run: PublishRun) -> list[tuple[bool, str]]:
    """For a publish that stopped short: (done?, sentence) for each step it took or not."""
    if run.exit_code == EXIT_OK and not run.interrupted:
        return []
    result, spans = run.result, {s.phase: s for s in run.spans}
    load, upload, delete = spans.get("load"), spans.get("upload"), spans.get("delete")
    loaded = load is not None and load.end is not None
    if loaded:
        steps = [(True, "State loaded, rendered and validated")]
    else:
        steps = [(False, "State not valid" if run.exit_code == EXIT_INVALID else "State not read")]
    if result is not None and not result.dry_run and result.plan.puts:
        puts = len(result.plan.puts)
        steps.append((result.written == puts, f"{result.written:,} of {puts:,} documents written"))
    elif upload is not None:
        total = upload.total or 0
        steps.append((upload.end is not None, f"{upload.done:,} of {total:,} documents written"))
    else:
        steps.append((False, "No document written"))
    if delete is not None and delete.end is not None:
        steps.append((True, f"{delete.total or 0:,} documents deleted"))
    elif run.prune:
        steps.append((False, "Nothing deleted"))
    if result is not None and result.refused:
        steps.append((False, f"Prune refused: {result.refused}"))
    return steps


def _advice(run: PublishRun) -> str:
    """What to do next, after a publish that stopped short."""
    if run.interrupted:
        return "Interrupted: a re-run writes what is still missing."
    return {
        EXIT_OK: "",
        EXIT_USAGE: "Fix the command line and run it again.",
        EXIT_INVALID: "Fix what is listed above and publish again: the target was not changed.",
        EXIT_STORAGE: "A re-run finishes the job: it writes only what is still missing.",
        EXIT_LOCKED: "Another publisher holds the lock: this one wrote nothing.",
    }.get(run.exit_code, "")


def change_groups(result: PublishResult) -> list[dict[str, Any]]:
    """Changed keys, grouped by organization and the very change they received."""
    keys = result.rendered.keys
    grouped: dict[tuple[str, str, str], dict[str, Any]] = {}
    added: dict[str, list[ExperimentChange]] = {}
    for put in result.plan.puts:
        info = keys.get(put.key)
        if put.reason == "added":
            sha = put.document.sha256
            if sha not in added:
                added[sha] = diff_documents(None, put.document.body)
            changes = added[sha]
        else:
            changes = result.diffs.get(put.key, [])
        org = info.org if info else "?"
        what = (org, put.reason, json.dumps([_change(c) for c in changes], sort_keys=True))
        group = grouped.setdefault(
            what, {"org": org, "reason": put.reason, "changes": changes, "keys": []}
        )
        group["keys"].append(_key(put.key, result))
    return sorted(grouped.values(), key=lambda g: (g["org"], g["reason"], -len(g["keys"])))


def _change(change: ExperimentChange) -> dict[str, Any]:
    return {"experiment": change.experiment, "kind": change.kind, "fields": change.fields}


def _key(key: str, result: PublishResult) -> dict[str, Any]:
    info = result.rendered.keys.get(key)
    return {
        "label": key_label(key),
        "org": info.org if info else None,
        "description": info.description if info else None,
        "project": info.project if info else None,
    }


def gone_rows(result: PublishResult, prune: bool) -> list[dict[str, Any]]:
    rows = []
    for key in result.plan.deletes:
        info = result.rendered.keys.get(key)
        why = "revoked" if info is not None and info.revoked else "no longer in the state"
        if key in result.deleted:
            action = "deleted"
        elif result.dry_run and prune:
            action = "would be deleted"
        else:
            action = "left in place" + ("" if prune else " (no --prune)")
        rows.append({**_key(key, result), "why": why, "action": action})
    return rows


def delivery_rows(result: PublishResult) -> list[tuple[str, str, str]]:
    """(what, outcome class, text) for the purge, each webhook and each edge."""
    rows: list[tuple[str, str, str]] = []
    if result.purge_preview:
        rows.append(("CDN purge", "plan", f"would {result.purge_preview}"))
    if result.purged:
        rows.append(("CDN purge", "ok", f"{len(result.purged):,} paths purged"))
    if result.purge_error is not None:
        rows.append(("CDN purge", "failed", f"{result.purge_error.message}; the next run retries"))
    rows += [(f"Webhook {label}", "ok", "delivered") for label in result.webhooks.delivered]
    rows += [
        (f"Webhook {label}", "failed", f"{why}; the next publish retries it")
        for label, why in sorted(result.webhooks.failed.items())
    ]
    rows += [(f"Webhook {label}", "plan", "would be sent") for label in result.webhooks_due]
    for wait in result.edge_waits:
        edge = f"Edge {url_for_display(wait.edge)}"
        if wait.seconds:
            text = f"{len(wait.seconds):,} fresh, median {wait.median:.2f} s, max {wait.most:.2f} s"
            rows.append((edge, "ok", text))
        if wait.stale:
            stale = ", ".join(key_label(k) for k in wait.stale[:20])
            rows.append((edge, "failed", f"{len(wait.stale):,} still stale: {stale}"))
    return rows


def _problem(problem: Any) -> dict[str, Any]:
    where = problem.source or ""
    if problem.line is not None:
        where = f"{where}:{problem.line}" if where else f"line {problem.line}"
    return {
        "where": where,
        "location": problem.location,
        "name": problem.name,
        "message": problem.message,
    }
