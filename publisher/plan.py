"""Desired documents vs what is live → a Plan of puts, deletes and unchanged (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from .errors import PlanRefusedError
from .redact import key_hash
from .render import Document

DEFAULT_MAX_DELETES = 100


class LiveObject(NamedTuple):
    """A document found on the target; `md5` is None where the store's ETag is not an MD5."""

    md5: str | None


@dataclass(frozen=True)
class Put:
    key: str
    document: Document
    reason: Literal["added", "changed"]


@dataclass(frozen=True)
class Plan:
    """What a publish will do: the same data drives --dry-run and a real run."""

    puts: list[Put] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    unchanged: int = 0
    live: int = 0

    def count(self, reason: str) -> int:
        return sum(1 for p in self.puts if p.reason == reason)


def plan_sync(
    desired: Mapping[str, Document],
    live: Mapping[str, LiveObject],
    manifest: Mapping[str, str] | None = None,
) -> Plan:
    """Compare desired documents with live objects (MD5, else the manifest's sha256)."""
    manifest = manifest or {}
    puts: list[Put] = []
    unchanged = 0
    for key in sorted(desired):
        doc = desired[key]
        found = live.get(key)
        if found is None:
            puts.append(Put(key, doc, "added"))
        elif _same(found, doc, manifest, key):
            unchanged += 1
        else:
            puts.append(Put(key, doc, "changed"))
    deletes = sorted(key for key in live if key not in desired)
    return Plan(puts, deletes, unchanged, len(live))


def _same(found: LiveObject, doc: Document, manifest: Mapping[str, str], key: str) -> bool:
    if found.md5 is not None:
        return found.md5 == doc.md5
    return manifest.get(key_hash(key)) == doc.sha256


def check_deletes(plan: Plan, *, max_deletes: int, force: bool) -> None:
    """Refuse a prune that deletes over `max_deletes` or more than half of what is live."""
    count = len(plan.deletes)
    if force or count == 0:
        return
    if count > max_deletes:
        raise PlanRefusedError(
            f"refusing to delete {count} documents, more than --max-deletes {max_deletes}: "
            "check the state, then raise --max-deletes or pass --force; nothing was published"
        )
    if count * 2 > plan.live:
        raise PlanRefusedError(
            f"refusing to delete {count} of {plan.live} live documents (more than half): "
            "check the state and --target, then pass --force; nothing was published"
        )


@dataclass(frozen=True)
class ExperimentChange:
    experiment: str
    kind: Literal["added", "removed", "changed"]
    fields: tuple[tuple[str, Any, Any], ...] = ()
    """(field, old, new) for a changed experiment; a missing side is None."""

    def __str__(self) -> str:
        if self.kind != "changed":
            return f"{self.experiment}: {self.kind}"
        parts = [f"{name} {_show(old)} → {_show(new)}" for name, old, new in self.fields]
        return f"{self.experiment}: {', '.join(parts)}"


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, separators=(",", ":"))


def diff_documents(old: bytes | None, new: bytes) -> list[ExperimentChange]:
    """Return the experiment-level difference between two documents."""
    before = _overrides(old)
    after = _overrides(new)
    changes = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            changes.append(ExperimentChange(name, "added"))
        elif name not in after:
            changes.append(ExperimentChange(name, "removed"))
        elif before[name] != after[name]:
            fields = sorted(set(before[name]) | set(after[name]))
            diffs = tuple(
                (f, before[name].get(f), after[name].get(f))
                for f in fields
                if before[name].get(f) != after[name].get(f)
            )
            changes.append(ExperimentChange(name, "changed", diffs))
    return changes


def _overrides(body: bytes | None) -> dict[str, dict[str, Any]]:
    if body is None:
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    overrides = value.get("overrides") if isinstance(value, dict) else None
    return overrides if isinstance(overrides, dict) else {}
