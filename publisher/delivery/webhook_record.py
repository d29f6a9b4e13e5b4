"""What each webhook was last sent, kept under _publisher/webhooks.json (hashes only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..meta_json import decode_meta, encode_meta
from .hooks import Hook

RECORD = "webhooks.json"


@dataclass
class Record:
    """What each webhook was last sent, under _publisher/ (hashes only)."""

    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: bytes | None) -> Record:
        """The record as read (an empty one for none, or one not as a record is)."""
        found = decode_meta(raw, RECORD, "webhooks") or {}
        return cls(found.get("hooks", {}))

    def encode(self) -> bytes:
        return encode_meta({"version": 1, "hooks": self.hooks})

    def due(self, hooks: list[Hook], scope_sha: Mapping[str, str]) -> list[Hook]:
        """Hooks whose scope's document differs from what they last received."""
        return [h for h in hooks if self.hooks.get(h.id, {}).get("delivered") != scope_sha[h.id]]

    def update(
        self, hooks: list[Hook], scope_sha: Mapping[str, str], failed: Mapping[str, str]
    ) -> None:
        """Record this run: delivered hashes, errors, and forget hooks no longer in the state."""
        current = {h.id for h in hooks}
        self.hooks = {k: v for k, v in self.hooks.items() if k in current}
        for hook in hooks:
            entry = self.hooks.setdefault(hook.id, {"org": hook.org, "project": hook.project})
            if hook.id in failed:
                entry["pending"] = scope_sha[hook.id]
                entry["error"] = failed[hook.id]
                entry["attempts"] = int(entry.get("attempts", 0)) + 1
            elif scope_sha[hook.id] != entry.get("delivered") or "pending" in entry:
                entry.update(delivered=scope_sha[hook.id])
                for stale in ("pending", "error", "attempts"):
                    entry.pop(stale, None)
