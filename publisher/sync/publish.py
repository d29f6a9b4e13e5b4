"""The publish algorithm of SPEC §5; it knows targets and CDNs only through their interfaces."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path

from ..delivery.cdn import Purger
from ..delivery.hooks import Hook
from ..delivery.purge import purge_changed
from ..delivery.record import RECORD, Record
from ..delivery.sender import Sender
from ..delivery.webhooks import Delivery, notify, scope_shas
from ..documents.diff import ExperimentChange, diff_documents
from ..documents.render import Rendered
from ..errors import DocumentError, Problem, PublisherError, StateError, StorageError
from ..progress import Progress, Silent
from ..redact import key_hash, plural
from ..settings import PublishOptions
from ..state import State
from .apply import UploadError, apply_puts, refresher
from .lock import LockInfo, new_lock
from .manifest import manifest_documents, record_generation
from .plan import Plan, check_deletes
from .prepare import prepare
from .snapshot import Background, Snapshot, timed
from .targets import Target


@dataclass
class PublishResult:
    """What a publish planned and did; the CLI reports it, a library caller inspects it."""

    target: str
    dry_run: bool
    plan: Plan
    rendered: Rendered
    deleted: list[str] = field(default_factory=list)
    generation: int | None = None
    diffs: dict[str, list[ExperimentChange]] = field(default_factory=dict)
    refused: str | None = None
    purged: list[str] = field(default_factory=list)
    webhooks: Delivery = field(default_factory=Delivery)
    webhooks_due: list[str] = field(default_factory=list)
    purge_error: StorageError | None = None
    purge_preview: str | None = None
    """A dry run with a CDN: what the purge would do."""
    written: int = 0
    """Documents written (all the puts, unless an upload failed)."""
    failed_uploads: list[Problem] = field(default_factory=list)

    @property
    def left_in_place(self) -> list[str]:
        """Keys no longer in the state whose documents stay live (no --prune)."""
        return [] if self.deleted else self.plan.deletes


class PublishIncomplete(StorageError):
    """The publish ran but not all of it succeeded: `result` says what was and was not done."""

    def __init__(self, message: str, problems: list[Problem], result: PublishResult) -> None:
        super().__init__(message, problems)
        self.result = result


def sync_target(
    state: State | str | Path,
    target: Target,
    options: PublishOptions,
    progress: Progress | None = None,
    purger: Purger | None = None,
    sender: Sender | None = None,
) -> PublishResult:
    """Render, validate and sync every document to `target`, purge the CDN and push the
    changed documents to webhooks (SPEC §5, §9).

    What is live is read while the state is loaded and rendered. A publish that finds
    nothing to do takes no lock and writes nothing; otherwise it takes the lock and
    reads what is live again before it writes.
    """
    progress = progress or Silent()
    progress.start("list")
    reading = Background(lambda: Snapshot.read(target))
    progress.start("load")
    try:
        loaded, rendered, hooks = prepare(state, options)
    except (StateError, DocumentError) as exc:
        exc.message += "; nothing was published"
        raise
    progress.finish("load")
    snapshot = reading.result()
    progress.finish("list")
    # A dry run of a prune reads back what it would delete; a real one does so after the puts.
    checked = target if options.prune and options.dry_run else None
    plan = snapshot.plan(rendered, checked, adopt_unmanaged=options.prune_unmanaged)
    due = [h.label for h in snapshot.record.due(hooks, scope_shas(rendered, hooks))]
    if options.dry_run:
        result = _dry_run(rendered, target, options, plan, purger, snapshot.pending_purge)
        result.webhooks_due = due
        return result
    if not due and _up_to_date(loaded, rendered, plan, snapshot, options):
        generation = snapshot.manifest.generation
        return PublishResult(target.description, False, plan, rendered, generation=generation)
    del snapshot, plan  # read again under the lock; do not hold two copies
    info = new_lock(options.lock_ttl)
    target.acquire_lock(info)
    # The state and documents live to the end: keep the collector from rescanning
    # them on every few thousand allocations of the uploads.
    gc.freeze()
    try:
        result = _publish_locked(loaded, rendered, target, options, info, progress, purger)
        return _push(result, target, hooks, sender or Sender(), progress)
    finally:
        gc.unfreeze()
        target.release_lock(info)


def _up_to_date(
    state: State, rendered: Rendered, plan: Plan, snapshot: Snapshot, options: PublishOptions
) -> bool:
    """True when a publish would write nothing: no document, manifest or purge pending."""
    if plan.puts or snapshot.pending_purge or (options.prune and plan.deletes):
        return False
    published = {key: doc.sha256 for key, doc in rendered.documents.items()}
    documents = manifest_documents(snapshot.manifest, published, plan.deletes)
    manifest = snapshot.manifest
    return documents == manifest.documents and state.sha256 == manifest.state_sha256


def _dry_run(
    rendered: Rendered,
    target: Target,
    options: PublishOptions,
    plan: Plan,
    purger: Purger | None,
    pending: list[str],
) -> PublishResult:
    result = PublishResult(target.description, True, plan, rendered)
    if purger is not None:
        deleted = plan.deletes if options.prune else []
        keys = _purge_keys([p.key for p in plan.puts] + deleted, rendered, plan, pending)
        result.purge_preview = purger.describe([target.document_path(k) for k in keys])
    cache: dict[tuple[bytes | None, str], list[ExperimentChange]] = {}
    for put in plan.puts:
        if put.reason == "changed":
            old = target.read_document(put.key)
            pair = (old, put.document.sha256)
            if pair not in cache:
                cache[pair] = diff_documents(old, put.document.body)
            result.diffs[put.key] = cache[pair]
    if options.prune:
        try:
            check_deletes(plan, max_deletes=options.max_deletes, force=options.force)
        except PublisherError as exc:
            result.refused = exc.message
    return result


def _publish_locked(
    state: State,
    rendered: Rendered,
    target: Target,
    options: PublishOptions,
    info: LockInfo,
    progress: Progress,
    purger: Purger | None,
) -> PublishResult:
    progress.start("list")
    snapshot = Snapshot.read(target)  # again: now no other publisher can write
    plan = snapshot.plan(rendered, adopt_unmanaged=options.prune_unmanaged)
    progress.finish("list")
    if options.prune:
        check_deletes(plan, max_deletes=options.max_deletes, force=options.force)
    result = PublishResult(target.description, False, plan, rendered)
    progress.start("upload", len(plan.puts))
    with timed(f"wrote {len(plan.puts)} {plural(len(plan.puts), 'document')}"):
        try:
            result.written = apply_puts(
                target, plan.puts, progress, refresher(target, info, options.lock_ttl)
            )
        except UploadError as exc:
            result.written = exc.written
            result.failed_uploads = exc.problems
            raise PublishIncomplete(exc.message, exc.problems, result) from None
    progress.finish("upload")
    if options.prune and not options.prune_unmanaged and plan.deletes:
        plan = result.plan = snapshot.verify_deletes(plan, target)  # after every put succeeded
    if options.prune and plan.deletes:
        progress.start("delete", len(plan.deletes))
        target.delete_documents(plan.deletes)
        result.deleted = list(plan.deletes)
        progress.finish("delete")
    result.generation = record_generation(
        target,
        snapshot.manifest,
        manifest_documents(
            snapshot.manifest,
            {key: doc.sha256 for key, doc in rendered.documents.items()},
            result.left_in_place,
        ),
        state_sha256=state.sha256,
        counts=_counts(result),
        extra={"stopped_policy": str(options.stopped_policy)},
    )
    if purger is not None:
        changed = [p.key for p in plan.puts] + result.deleted
        known = {key_hash(k): k for k in [*rendered.keys, *plan.deletes]}
        progress.start("purge")
        try:
            result.purged = purge_changed(purger, target, changed, known, snapshot.pending_purge)
        except StorageError as exc:
            result.purge_error = exc
        progress.finish("purge")
    return result


def _purge_keys(
    changed: list[str], rendered: Rendered, plan: Plan, pending: list[str]
) -> list[str]:
    """The keys a purge covers: the changed ones and those a failed purge left pending."""
    known = {key_hash(k): k for k in [*rendered.keys, *plan.deletes]}
    return sorted(set(changed) | {known[h] for h in pending if h in known})


def _counts(result: PublishResult) -> dict[str, int]:
    plan, rendered = result.plan, result.rendered
    return {
        "documents": len(rendered.documents),
        "distinct": len(rendered.distinct()),
        "added": plan.count("added"),
        "changed": plan.count("changed"),
        "unchanged": plan.unchanged,
        "deleted": len(result.deleted),
        "left_in_place": len(result.left_in_place),
    }


def _push(
    result: PublishResult, target: Target, hooks: list[Hook], sender: Sender, progress: Progress
) -> PublishResult:
    """Push changed documents to webhooks once they are live; exit 4 while any is pending.

    A failed purge is raised after the pushes: the documents are live either way.
    """
    record = Record.parse(target.read_meta(RECORD))
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
