"""Turn results into text for a terminal and JSON for machines (pure: returns strings).

A publish reports the same way whether it succeeded or not: the summary (counts,
generation, changes) first, then what failed, in text and in JSON alike.
"""

from __future__ import annotations

from typing import Any

from ..delivery.edge_wait import EdgeWait
from ..documents.render import KeyInfo
from ..errors import EXIT_INVALID, EXIT_OK, Problem, PublisherError, StorageError
from ..publishing.result import PublishResult
from ..redact import key_label, plural, printable, url_for_display

MAX_LISTED = 20
EXIT_PENDING = 1
"""`publish --dry-run --exit-code`: something would change (as `git diff --exit-code`)."""


def pending_changes(result: PublishResult, prune: bool) -> bool:
    """Whether the plan puts a document or (with --prune) deletes one."""
    return bool(result.plan.puts) or (prune and bool(result.plan.deletes))


def describe_key(key: str, info: KeyInfo | None) -> str:
    """Name a key for people: organization, label and description, never the key."""
    if info is None:
        return f"{key_label(key)} (not in the state)"
    text = f"{info.org}/{key_label(key)}"
    if info.description:
        text += f" ({printable(info.description)})"
    return text


def _count(count: int, noun: str) -> str:
    return f"{count:,} {plural(count, noun)}"


def _summary(result: PublishResult, prune: bool) -> str:
    plan = result.plan
    parts = [f"{plan.count('added'):,} added", f"{plan.count('changed'):,} changed"]
    if result.dry_run:
        gone = len(plan.deletes)
        parts.append(f"{gone:,} to delete" if prune else f"{gone:,} left in place")
    else:
        parts.append(f"{len(result.deleted):,} deleted")
    parts.append(f"{plan.unchanged:,} unchanged")
    return ", ".join(parts)


def publish_text(
    result: PublishResult, *, prune: bool, list_all: bool = False, failed: bool = False
) -> str:
    """Return the human-readable report of a publish or a dry run (`failed`: it stopped
    short; the error lines follow on stderr)."""
    rendered, plan = result.rendered, result.plan
    lines = [_headline(result, prune, failed)]
    # Deletes first: within the first twenty lines, what is lost matters most.
    rows = [
        f"  - {describe_key(k, rendered.keys.get(k))}: {_gone(k, result, prune)}"
        for k in plan.deletes
    ]
    rows += [_put_line(result, p.key, p.reason) for p in plan.puts]
    limit = None if list_all else MAX_LISTED
    lines += rows[:limit]
    if limit is not None and len(rows) > limit:
        lines.append(f"  … and {len(rows) - limit:,} more (--list-all or --json lists all)")
    lines += _notes(result, prune)
    lines += _delivery(result)
    if result.generation is not None and result.repaired and (plan.puts or result.deleted):
        lines.append(
            f"Generation {result.generation} stays live: what was written puts back what it "
            "records (drift repaired; no new generation)"
        )
    elif result.generation is not None and (plan.puts or result.deleted):
        lines.append(
            f"Generation {result.generation} recorded in {result.target}/_publisher/manifest.json"
        )
    return "\n".join(lines)


def _notes(result: PublishResult, prune: bool) -> list[str]:
    """What the plan leaves in place, and why every document is written again."""
    plan, lines = result.plan, []
    staying = len(plan.deletes) + plan.hidden
    if staying and not prune:
        lines.append(
            f"{_count(staying, 'document')} of revoked or removed keys "
            f"{'stays' if staying == 1 else 'stay'} live: pass --prune to delete "
            f"{'it' if staying == 1 else 'them'}"
        )
    if plan.unmanaged:
        lines.append(
            f"{_count(len(plan.unmanaged), 'file')} under config/ that publisher did not write "
            f"(or that changed since) {'is' if len(plan.unmanaged) == 1 else 'are'} left in "
            f"place: --prune-unmanaged deletes {'it' if len(plan.unmanaged) == 1 else 'them'}"
        )
    for name, before, after in plan.headers:
        was = "(not recorded)" if before is None else repr(before)
        lines.append(
            f"The documents' {name} changes from {was} to {after!r}: every document is "
            f"{'to be written' if result.dry_run else 'written'} again"
        )
    if result.refused and result.dry_run:
        lines.append(f"This publish would be refused: {result.refused}")
    return lines


def _delivery(result: PublishResult) -> list[str]:
    """The CDN purge, the webhooks and the edges: what was (or would be) done."""
    lines = []
    if result.purge_preview:
        lines.append(f"The CDN purge would {result.purge_preview}")
    if result.purged:
        lines.append(f"Purged {_count(len(result.purged), 'path')} from the CDN")
    if result.purge_error is not None:
        lines.append("The CDN purge failed: the next publish retries it")
    for label in result.webhooks.delivered:
        lines.append(f"Webhook {label}: delivered")
    for label, why in sorted(result.webhooks.failed.items()):
        lines.append(f"Webhook {label}: failed ({why}); the next publish retries it")
    for label in result.webhooks_due:
        lines.append(f"Webhook {label}: would be sent")
    for wait in result.edge_waits:
        shown = url_for_display(wait.edge)
        if wait.seconds:
            lines.append(
                f"Edge {shown}: {_count(len(wait.seconds), 'document')} fresh, "
                f"median {wait.median:.2f} s, max {wait.most:.2f} s"
            )
        if wait.stale:
            lines.append(f"Edge {shown}: {_count(len(wait.stale), 'document')} still stale")
    return lines


def _headline(result: PublishResult, prune: bool, failed: bool) -> str:
    plan, rendered = result.plan, result.rendered
    if result.dry_run:
        return f"Plan for {result.target} (dry run, nothing changed): {_summary(result, prune)}"
    if result.refused:
        return f"Refused to publish to {result.target}, nothing written: {_summary(result, prune)}"
    if result.failed_uploads:
        return (
            f"Stopped publishing to {result.target}: wrote {result.written:,} of "
            f"{_count(len(plan.puts), 'document')}, "
            f"{len(result.failed_uploads):,} failed, nothing deleted"
        )
    if not plan.puts and not result.deleted:
        return (
            f"Nothing to upload: all {_count(plan.unchanged, 'document')} at {result.target} "
            "are up to date"
        )
    distinct = rendered.distinct_count()
    verb = "Published, with errors," if failed else "Published"
    return (
        f"{verb} {_count(rendered.count(), 'document')} ({distinct:,} distinct) to "
        f"{result.target}: {_summary(result, prune)}"
    )


def _gone(key: str, result: PublishResult, prune: bool) -> str:
    info = result.rendered.keys.get(key)
    why = "revoked" if info is not None and info.revoked else "no longer in the state"
    if result.dry_run:
        return f"{why}; would be deleted" if prune else f"{why}; left in place (no --prune)"
    return f"{why}; deleted" if key in result.deleted else f"{why}; left in place"


def _put_line(result: PublishResult, key: str, reason: str) -> str:
    who = describe_key(key, result.rendered.keys.get(key))
    if reason == "added":
        return f"  + {who}: new document"
    changes = result.diffs.get(key)
    if not changes:
        return f"  ~ {who}: changed"
    return f"  ~ {who}: " + "; ".join(str(c) for c in changes)


def publish_json(
    result: PublishResult,
    *,
    prune: bool,
    error: PublisherError | None = None,
    pending: bool = False,
) -> dict[str, Any]:
    """Return the machine-readable result of a publish or a dry run, failed or not
    (`pending`: --exit-code makes the exit 1 for changes pending).

    The same shape either way: what was planned and done, then what failed in fields
    of its own (`error`, `problems`, `uploads_failed`, `purge.error`, `webhooks.failed`).
    """
    code = error.exit_code if error is not None else EXIT_INVALID if result.refused else EXIT_OK
    if code == EXIT_OK and pending:
        code = EXIT_PENDING
    return {
        "ok": error is None and result.refused is None,
        "exit_code": code,
        "dry_run": result.dry_run,
        "target": result.target,
        "generation": result.generation,
        "repaired": result.repaired,
        "counts": _counts(result),
        "changes": _changes(result, prune),
        "refused": result.refused,
        "headers_changed": [
            {"header": name, "before": before, "after": after}
            for name, before, after in result.plan.headers
        ],
        "purged": len(result.purged),
        "purge": {
            "paths": len(result.purged),
            "would": result.purge_preview,
            "error": result.purge_error.message if result.purge_error else None,
        },
        "webhooks": {
            "delivered": result.webhooks.delivered,
            "failed": result.webhooks.failed,
            "due": result.webhooks_due,
        },
        "edges": [_edge(w) for w in result.edge_waits],
        "uploads_failed": [_problem(p) for p in result.failed_uploads],
        "error": error.message if error is not None else None,
        "problems": [_problem(p) for p in error.problems] if error is not None else [],
    }


def _counts(result: PublishResult) -> dict[str, Any]:
    plan, quick = result.plan, result.quick is not None
    return {
        "documents": plan.unchanged if quick else result.rendered.count(),
        "distinct": result.quick if quick else result.rendered.distinct_count(),
        "added": plan.count("added"),
        "changed": plan.count("changed"),
        "unchanged": plan.unchanged,
        "deleted": len(result.deleted),
        "to_delete": len(plan.deletes),
        "unmanaged": len(plan.unmanaged),
        "unnamed": plan.hidden,
        "written": result.written,
    }


def _changes(result: PublishResult, prune: bool) -> list[dict[str, Any]]:
    """Each key put or deleted (or left in place), by label, with its experiment changes."""
    keys = result.rendered.keys

    def entry(key: str, action: str) -> dict[str, Any]:
        info = keys.get(key)
        item: dict[str, Any] = {
            "key_label": key_label(key),
            "org": info.org if info else None,
            "action": action,
        }
        if key in result.diffs:
            item["changes"] = [
                {"experiment": c.experiment, "kind": c.kind, "fields": [list(f) for f in c.fields]}
                for c in result.diffs[key]
            ]
        return item

    deleted = set(result.deleted)
    gone = "would-delete" if result.dry_run and prune else "left-in-place"
    plan = result.plan
    return [entry(p.key, p.reason) for p in plan.puts] + [
        entry(k, "deleted" if k in deleted else gone) for k in plan.deletes
    ]


def _edge(wait: EdgeWait) -> dict[str, Any]:
    return {
        "edge": url_for_display(wait.edge),
        "fresh": len(wait.seconds),
        "median_s": round(wait.median, 3),
        "max_s": round(wait.most, 3),
        "stale": [key_label(k) for k in wait.stale],
    }


def stale_edges(result: PublishResult, wait_timeout: float) -> StorageError | None:
    """The error (exit 4) when an edge still served old bytes at the end of --wait-edge:
    one line for the whole wait, then one per edge naming the first few keys."""
    waits = [w for w in result.edge_waits if w.stale]
    if not waits:
        return None
    count = sum(len(w.stale) for w in waits)
    why = next((f" (last error: {w.error})" for w in waits if w.error), "")
    problems = [
        Problem(url_for_display(w.edge), f"still stale: {_first_labels(w.stale)}") for w in waits
    ]
    return StorageError(
        f"the documents are published, but {count} {plural(count, 'document')} still served "
        f"old bytes at the edge after {wait_timeout:g} s{why}",
        problems,
    )


def _first_labels(keys: list[str], most: int = 3) -> str:
    """`key_a…, key_b…, key_c… and 12 more`: a few labels, then how many others."""
    shown = ", ".join(key_label(k) for k in keys[:most])
    return shown + (f" and {len(keys) - most} more" if len(keys) > most else "")


def _problem(p: Problem) -> dict[str, Any]:
    return {
        "location": p.location,
        "name": p.name,
        "message": p.message,
        "line": p.line,
        "source": p.source,
    }


def error_json(error: PublisherError) -> dict[str, Any]:
    """Return the machine-readable form of an error that left no result."""
    return {
        "ok": False,
        "exit_code": error.exit_code,
        "error": error.message,
        "problems": [_problem(p) for p in error.problems],
    }
