"""Turn results into text for a terminal and JSON for machines (pure: returns strings)."""

from __future__ import annotations

from typing import Any

from ..documents.render import KeyInfo
from ..errors import PublisherError
from ..redact import key_label, printable
from ..sync.publish import PublishResult

MAX_LISTED = 20


def describe_key(key: str, info: KeyInfo | None) -> str:
    """Name a key for people: organization, label and description, never the key."""
    if info is None:
        return f"{key_label(key)} (not in the state)"
    text = f"{info.org}/{key_label(key)}"
    if info.description:
        text += f" ({printable(info.description)})"
    return text


def _summary(result: PublishResult) -> str:
    plan = result.plan
    parts = [
        f"{plan.count('added')} added",
        f"{plan.count('changed')} changed",
        f"{len(result.deleted)} deleted"
        if not result.dry_run
        else f"{len(plan.deletes)} to delete",
        f"{plan.unchanged} unchanged",
    ]
    return ", ".join(parts)


def publish_text(result: PublishResult, *, prune: bool, verbose: bool = False) -> str:
    """Return the human-readable report of a publish or a dry run."""
    rendered, plan = result.rendered, result.plan
    lines = []
    distinct = len(rendered.distinct())
    if result.dry_run:
        lines.append(f"Plan for {result.target} (dry run, nothing changed): {_summary(result)}")
    elif not plan.puts and not result.deleted:
        lines.append(
            f"Nothing to upload: all {plan.unchanged} document(s) at {result.target} are up to date"
        )
    else:
        lines.append(
            f"Published {len(rendered.documents)} document(s) ({distinct} distinct) to "
            f"{result.target}: {_summary(result)}"
        )
    limit = None if (result.dry_run or verbose) else MAX_LISTED
    rows = [_put_line(result, p.key, p.reason) for p in plan.puts]
    rows += [
        f"  - {describe_key(k, rendered.keys.get(k))}: {_gone(k, result)}" for k in plan.deletes
    ]
    lines += rows[:limit]
    if limit is not None and len(rows) > limit:
        lines.append(f"  … and {len(rows) - limit} more (--verbose or --json lists all)")
    if plan.deletes and not prune:
        lines.append(
            f"{len(plan.deletes)} document(s) of revoked or removed keys stay live: "
            "pass --prune to delete them"
        )
    if plan.unmanaged:
        lines.append(
            f"{len(plan.unmanaged)} file(s) under config/ that publisher did not write are left "
            "in place: --prune-unmanaged deletes them"
        )
    if result.refused:
        lines.append(f"This publish would be refused: {result.refused}")
    if result.purged:
        lines.append(f"Purged {len(result.purged)} path(s) from the CDN")
    for label in result.webhooks.delivered:
        lines.append(f"Webhook {label}: delivered")
    for label in result.webhooks_due:
        lines.append(f"Webhook {label}: would be sent")
    if result.generation is not None and (plan.puts or result.deleted):
        lines.append(
            f"Generation {result.generation} recorded in {result.target}/_publisher/manifest.json"
        )
    return "\n".join(lines)


def _gone(key: str, result: PublishResult) -> str:
    info = result.rendered.keys.get(key)
    why = "revoked" if info is not None and info.revoked else "no longer in the state"
    if result.dry_run:
        return f"{why}; would be deleted with --prune"
    return f"{why}; deleted" if key in result.deleted else f"{why}; left in place"


def _put_line(result: PublishResult, key: str, reason: str) -> str:
    who = describe_key(key, result.rendered.keys.get(key))
    if reason == "added":
        return f"  + {who}: new document"
    changes = result.diffs.get(key)
    if not changes:
        return f"  ~ {who}: changed"
    return f"  ~ {who}: " + "; ".join(str(c) for c in changes)


def publish_json(result: PublishResult) -> dict[str, Any]:
    """Return the machine-readable result of a publish or a dry run."""
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

    plan = result.plan
    deleted = set(result.deleted)
    gone_action = "would-delete" if result.dry_run else "left-in-place"
    return {
        "ok": result.refused is None,
        "dry_run": result.dry_run,
        "target": result.target,
        "generation": result.generation,
        "counts": {
            "documents": len(result.rendered.documents),
            "distinct": len(result.rendered.distinct()),
            "added": plan.count("added"),
            "changed": plan.count("changed"),
            "unchanged": plan.unchanged,
            "deleted": len(result.deleted),
            "to_delete": len(plan.deletes),
            "unmanaged": len(plan.unmanaged),
        },
        "changes": [entry(p.key, p.reason) for p in plan.puts]
        + [entry(k, "deleted" if k in deleted else gone_action) for k in plan.deletes],
        "refused": result.refused,
        "purged": len(result.purged),
        "webhooks": {
            "delivered": result.webhooks.delivered,
            "failed": result.webhooks.failed,
            "due": result.webhooks_due,
        },
    }


def error_json(error: PublisherError) -> dict[str, Any]:
    """Return the machine-readable form of an error."""
    return {
        "ok": False,
        "exit_code": error.exit_code,
        "error": error.message,
        "problems": [
            {"location": p.location, "message": p.message, "line": p.line, "source": p.source}
            for p in error.problems
        ],
    }
