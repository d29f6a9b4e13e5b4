"""Push changed documents to webhooks, signed, at least once (SPEC §9).

The payload and the push are here; the state's hooks are in `hooks`, the HTTP sender
in `sender`, the delivery record in `record`, the signatures in `signatures`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..documents.render import DOCUMENT_PREFIX, Document, Rendered
from .hooks import Hook
from .sender import Sender
from .target_files import Bookkeeping
from .webhook_record import RECORD, Record


def payload(document: Document, timestamp: int) -> bytes:
    """Return `{"timestamp": T, "overrides": {...}}` with the document's own overrides bytes."""
    overrides = document.body[len(DOCUMENT_PREFIX) : -1]
    return b'{"timestamp":' + str(timestamp).encode() + b',"overrides":' + overrides + b"}"


@dataclass(frozen=True)
class Delivery:
    """What one publish pushed: the hooks reached, and why the others failed."""

    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def scope_shas(rendered: Rendered, hooks: list[Hook]) -> dict[str, str]:
    """Return each hook's current document sha256."""
    return {h.id: rendered.scopes[(h.org, h.project)].sha256 for h in hooks}


def notify(
    target: Bookkeeping,
    rendered: Rendered,
    hooks: list[Hook],
    record: Record,
    sender: Sender,
    now: float | None = None,
) -> Delivery:
    """Push each hook whose scope changed (or whose last push failed); record the outcome."""
    shas = scope_shas(rendered, hooks)
    due = record.due(hooks, shas)
    stamp = int(time.time() if now is None else now)
    jobs = [(h, payload(rendered.scopes[(h.org, h.project)], stamp)) for h in due]
    failed = sender.send_all(jobs)
    before = record.encode()
    record.update(hooks, shas, failed)
    if record.encode() != before:
        target.write_meta(RECORD, record.encode())
    return Delivery(
        [h.label for h in due if h.id not in failed],
        {h.label: failed[h.id] for h in due if h.id in failed},
    )


def send_now(rendered: Rendered, hooks: list[Hook], sender: Sender | None = None) -> Delivery:
    """Push the current document to each of `hooks` now, changed or not; record nothing."""
    sender = sender or Sender()
    stamp = int(time.time())
    jobs = [(h, payload(rendered.scopes[(h.org, h.project)], stamp)) for h in hooks]
    failed = sender.send_all(jobs)
    return Delivery(
        [h.label for h in hooks if h.id not in failed],
        {h.label: failed[h.id] for h in hooks if h.id in failed},
    )
