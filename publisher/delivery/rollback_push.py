"""A rollback's webhook pushes: each hook whose scope a rollback changed gets the body
put back, signed as on a publish, and the record says what it received."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from ..documents.render import Document
from .hooks import Hook
from .sender import Sender
from .target_files import Bookkeeping
from .webhook_record import RECORD, Record
from .webhooks import Delivery, payload


def push_restored(
    target: Bookkeeping,
    hooks: Iterable[Hook],
    restored: Mapping[tuple[str, str | None], Document],
    sender: Sender,
) -> Delivery:
    """Push each hook whose scope (organization, project) is in `restored` its document."""
    hooks = list(hooks)
    due = [h for h in hooks if (h.org, h.project) in restored]
    stamp = int(time.time())
    failed = sender.send_all([(h, payload(restored[(h.org, h.project)], stamp)) for h in due])
    record = Record.parse(target.read_meta(RECORD))
    for hook in due:  # only these: another hook's pending retry stays as it is
        entry = record.hooks.setdefault(hook.id, {"org": hook.org, "project": hook.project})
        sha = restored[(hook.org, hook.project)].sha256
        if hook.id in failed:
            entry.update(pending=sha, error=failed[hook.id])
            entry["attempts"] = int(entry.get("attempts", 0)) + 1
        else:
            entry["delivered"] = sha
            for stale in ("pending", "error", "attempts"):
                entry.pop(stale, None)
    if due:
        target.write_meta(RECORD, record.encode())
    return Delivery(
        [h.label for h in due if h.id not in failed],
        {h.label: failed[h.id] for h in due if h.id in failed},
    )
