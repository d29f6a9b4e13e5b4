"""What changed between two documents, experiment by experiment, field by field (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from ..redact import printable


@dataclass(frozen=True)
class ExperimentChange:
    experiment: str
    kind: Literal["added", "removed", "changed"]
    fields: tuple[tuple[str, Any, Any], ...] = ()
    """(field, old, new) for a changed experiment; a missing side is None."""

    def __str__(self) -> str:
        name = printable(self.experiment)  # an experiment key is user text
        if self.kind != "changed":
            return f"{name}: {self.kind}"
        parts = [
            f"{field} {shown_value(old)} → {shown_value(new)}" for field, old, new in self.fields
        ]
        return f"{name}: {', '.join(parts)}"


def shown_value(value: Any) -> str:
    """A field's value as people read it: compact JSON, or (none) where it is missing."""
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
