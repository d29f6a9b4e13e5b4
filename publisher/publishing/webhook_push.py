"""After the documents are live: push them to webhooks, and say what was delivered."""

from __future__ import annotations

from ..delivery.cdn import Purger
from ..delivery.hooks import Hook
from ..delivery.sender import Sender
from ..delivery.webhook_record import RECORD, Record
from ..delivery.webhooks import notify
from ..errors import Problem
from ..progress import Progress
from ..redact import plural
from ..targets import Target
from .result import PublishIncomplete, PublishResult


def push(
    result: PublishResult,
    target: Target,
    hooks: list[Hook],
    sender: Sender,
    progress: Progress,
    known_hooks: bool = True,
) -> PublishResult:
    """Push changed documents to webhooks once they are live; exit 4 while any is pending.

    A failed purge is raised after the pushes: the documents are live either way.
    """
    # No webhook in the state and none recorded when this publish began: nothing to push
    # or forget, and no read (a later record is forgotten by the next publish).
    record = Record.parse(target.read_meta(RECORD)) if hooks or known_hooks else Record()
    if hooks or record.hooks:  # also forgets the webhooks gone from the state
        progress.start("webhooks")
        result.webhooks = notify(target, result.rendered, hooks, record, sender)
        progress.finish("webhooks")
    failed = result.purge_error
    if failed is not None:
        raise PublishIncomplete(failed.message, failed.problems, result)
    if result.webhooks.failed:
        problems = [
            Problem(label, error) for label, error in sorted(result.webhooks.failed.items())
        ]
        count = len(problems)
        raise PublishIncomplete(
            f"the documents are published, but {count} webhook "
            f"{plural(count, 'delivery')} failed; the next publish retries "
            f"{'it' if count == 1 else 'them'}",
            problems,
            result,
        )
    return result


def outcomes(result: PublishResult, purger: Purger | None) -> tuple[str, str]:
    """Whether the purge and the webhooks of a publish completed: done, failed or none."""
    purge = "none" if purger is None else "failed" if result.purge_error else "done"
    sent = result.webhooks
    hooks = "failed" if sent.failed else "done" if sent.delivered else "none"
    return purge, hooks
