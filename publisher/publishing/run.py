"""The publish algorithm of SPEC §5, carried by one `PublishRun`."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ..bookkeeping.completion_marker import QUICK, SETTLED, UNSETTLED, marker
from ..bookkeeping.history import Change, note_delivery, reads_ahead
from ..bookkeeping.history import record as record_history
from ..bookkeeping.manifest import NewGeneration, manifest_documents, record_generation
from ..bookkeeping.reusable_orgs import org_section
from ..bookkeeping.write_behind import WriteBehind
from ..delivery.cdn import Purger
from ..delivery.purge import pending_count, purge_changed
from ..delivery.sender import Sender
from ..delivery.webhooks import scope_shas
from ..documents.diff import ExperimentChange
from ..documents.render import Rendered
from ..errors import DocumentError, PlanRefusedError, PublisherError, StateError, StorageError
from ..progress import Progress, Silent, timed
from ..redact import key_hash, plural
from ..settings import PublishOptions
from ..state import State
from ..targets import Target
from ..targets.publish_lock import LockInfo, new_lock
from ..threads import Background
from .before_lock import first_look, plan_for, read_live, survey
from .change_details import describe_changes
from .dry_run import dry_run
from .load_and_render import Prepared
from .plan import Plan, StaleReuse, check_deletes
from .result import PublishIncomplete, PublishRefused, PublishResult
from .target_snapshot import Snapshot
from .uploads import UploadError, Workers, apply_puts, refresher, workers_for
from .webhook_push import outcomes, push

log = logging.getLogger(__name__)


@dataclass
class PublishRun:
    """One publish: what it was told, where it writes, whom it tells, and its clock.

    Every step of the algorithm takes the run, not a list of the run's parts.
    """

    target: Target
    options: PublishOptions
    progress: Progress = field(default_factory=Silent)
    purger: Purger | None = None
    sender: Sender = field(default_factory=Sender)
    clock: Callable[[], float] = time.time

    def publish(self, state: State | str | Path) -> PublishResult:
        """Render, validate and sync every document to the target, purge the CDN and push
        the changed documents to webhooks (SPEC §5, §9).

        A state file reads the target's manifest, pending work and marker first (one
        round trip): an unchanged state stops there (quick_noop.py), and a JSON state's
        organizations unchanged since a complete publish are not read again
        (before_lock.py). A publish that finds nothing to do takes no lock and writes
        nothing; otherwise it takes the lock and checks the manifest again.
        """
        head = None
        if isinstance(state, str | Path):
            with _nothing_published():
                head, quick = first_look(state, self.target, self.options)
            if quick is not None:
                return quick
        try:
            return _sync(self, state, reuse=True, head=head)
        except StaleReuse as exc:  # raised before anything is written; `head` is stale
            log.info("reading the whole state again: %s", exc)
            return _sync(self, state, reuse=False)


def sync_target(
    state: State | str | Path,
    target: Target,
    options: PublishOptions,
    progress: Progress | None = None,
    purger: Purger | None = None,
    sender: Sender | None = None,
) -> PublishResult:
    """Publish `state` to `target` (see PublishRun.publish)."""
    run = PublishRun(target, options, progress or Silent(), purger, sender or Sender())
    return run.publish(state)


@dataclass
class Held:
    """What the lock's holder carries into the locked part: the lock itself, the upload
    threads started while it was taken, and what is to follow the documents."""

    info: LockInfo
    workers: Workers | None
    unsettle: bool
    """The marker that says 'unsettled' goes beside the manifest's check."""
    delivery: tuple[str, str]
    """Whether a purge and webhooks follow ("pending") or not ("none")."""


def _sync(
    run: PublishRun, state: State | str | Path, *, reuse: bool, head: Snapshot | None = None
) -> PublishResult:
    target, options, progress = run.target, run.options, run.progress
    progress.start("list")
    progress.start("load")
    with _nothing_published():
        checked, snapshot = survey(state, target, options, reuse, head)
    progress.finish("load")
    # A dry run of a prune reads back what it would delete; a real one does so after the puts.
    reading = target if options.prune and options.dry_run else None
    snapshot, plan = plan_for(snapshot, checked.rendered, target, options, reading)
    progress.finish("list")
    _pending_without_cdn(run, snapshot)
    hooks = checked.hooks
    due = [h.label for h in snapshot.record.due(hooks, scope_shas(checked.rendered, hooks))]
    if options.dry_run:
        result = dry_run(checked.rendered, target, options, plan, run.purger, snapshot)
        result.webhooks_due = due
        return result
    if not due and _up_to_date(checked, plan, snapshot, options):
        live = snapshot.manifest.generation
        return PublishResult(target.description, False, plan, checked.rendered, generation=live)
    held = _take_lock(run, plan, bool(checked.hooks))
    del plan
    # The state and documents live to the end: keep the collector from rescanning
    # them on every few thousand allocations of the uploads.
    gc.freeze()
    try:
        try:
            result = _publish_locked(run, checked, snapshot, held)
        finally:
            if held.workers is not None:
                held.workers.close()
        return _deliver(run, checked, snapshot, held, result)
    finally:
        gc.unfreeze()
        target.release_lock(held.info)


def _pending_without_cdn(run: PublishRun, snapshot: Snapshot) -> None:
    """A purge an earlier publish left pending, and no CDN to retry it with: exit 4 before
    anything is written (the edge would go on serving what that publish changed), unless
    told to go on (it stays pending)."""
    if not snapshot.pending_purge or run.purger is not None:
        return
    count = pending_count(snapshot.pending_purge)
    if run.options.ignore_pending_purge:  # a dry run stops as the publish would
        log.warning("a CDN purge of %s is pending: not retried (no CDN given)", count)
        return
    raise StorageError(
        f"a CDN purge of {count} is pending from an earlier "
        "publish (_publisher/pending-purge.json), and this publish knows no CDN: give the "
        "CDN's options (--cdn with --purge-url or --distribution-id) to retry it, or "
        "--ignore-pending-purge to publish without it (it stays pending)"
    )


def _take_lock(run: PublishRun, plan: Plan, hooks: bool) -> Held:
    """Take the target's lock; the upload threads start meanwhile (they wait for their
    puts). A failure to take it stops them, and a Ctrl-C releases what may be written."""
    workers = workers_for(run.target, len(plan.puts))
    info = new_lock(run.options.lock_ttl, run.clock())
    try:
        run.target.acquire_lock(info)
    except BaseException as exc:
        if workers is not None:
            with suppress(BaseException):  # waited out in full; `exc` is raised
                workers.close()
        if isinstance(exc, KeyboardInterrupt):  # the lock may be written: ours to release
            with suppress(PublisherError):
                run.target.release_lock(info)
        raise
    delivery = ("pending" if run.purger else "none", "pending" if hooks else "none")
    # The marker goes beside the manifest's check when documents are sure to be put (a
    # prune may yet be refused).
    unsettle = bool(plan.puts) and not run.options.prune
    return Held(info, workers, unsettle, delivery)


def _deliver(
    run: PublishRun, checked: Prepared, snapshot: Snapshot, held: Held, result: PublishResult
) -> PublishResult:
    """Push to webhooks; then the marker says the publish completed (or, after a failed
    purge or webhook, that the documents are settled), and the record says how delivery
    went."""
    target = run.target
    try:
        try:
            known = bool(snapshot.record.hooks)
            push(result, target, checked.hooks, run.sender, run.progress, known)
        except PublisherError:  # a purge or webhook failed: the documents are settled
            with suppress(PublisherError):
                target.write_meta(QUICK, SETTLED)
            raise
        # Complete: the next publish of these very bytes may stop at the marker.
        done = marker(result.generation or 0, checked.state.sha256, run.options, checked.rendered)
        target.write_meta(QUICK, done)
        return result
    finally:
        recorded = result.generation != snapshot.manifest.generation
        if recorded and "pending" in held.delivery:
            note_delivery(target, result.generation or 0, *outcomes(result, run.purger))


@contextmanager
def _nothing_published() -> Iterator[None]:
    """A state or document found invalid says that nothing was published."""
    try:
        yield
    except (StateError, DocumentError) as exc:
        exc.message += "; nothing was published"
        raise


def _up_to_date(checked: Prepared, plan: Plan, snapshot: Snapshot, options: PublishOptions) -> bool:
    """True when a publish would write nothing: no document, manifest or purge pending."""
    if plan.puts or snapshot.pending_purge or (options.prune and plan.deletes):
        return False
    manifest = snapshot.manifest
    if not manifest.intact or _scan_to_record(snapshot, options):
        return False  # the manifest is rewritten: in this format, or with the scan's time
    if snapshot.ranges_pay is False and manifest.scan_bounds:
        return False  # the next full scan lists in one chain: the manifest says so
    published = {key: doc.sha256 for key, doc in checked.rendered.documents.items()}
    documents = manifest_documents(manifest, published, [], snapshot.live)
    return documents == manifest.documents and checked.state.sha256 == manifest.state_sha256


def _scan_to_record(snapshot: Snapshot, options: PublishOptions) -> bool:
    """True when this snapshot's full scan was the one due by --full-scan-every."""
    last, now = snapshot.manifest.full_scan_at, snapshot.scanned_at
    if now is None or options.full_scan_every <= 0:
        return False
    return last is None or now - last >= options.full_scan_every


def _publish_locked(
    run: PublishRun, checked: Prepared, snapshot: Snapshot, held: Held
) -> PublishResult:
    """Under the lock: plan again only if the manifest changed, put, delete, record the
    generation, purge."""
    snapshot = _recheck(run, checked, snapshot, held)
    snapshot, plan = plan_for(snapshot, checked.rendered, run.target, run.options)
    result = PublishResult(run.target.description, False, plan, checked.rendered)
    _refuse_or_mark(run, plan, result, marked=held.unsettle)
    if run.options.describe:  # before the puts: history may collect the old bodies after them
        result.diffs = _describe(run, snapshot, plan)
    manifest = snapshot.manifest  # history's reads are made while the documents upload
    writes = WriteBehind(run.target, reads_ahead(manifest, run.options.keep_generations))
    with writes:  # what history reads ahead is waited for, however this ends
        _upload(run, plan, result, held)
        plan = _delete(run, snapshot, plan, result)
        _record(run, writes, checked, snapshot, result, held)
    _purge(run, checked, snapshot, result)
    return result


def _describe(run: PublishRun, snapshot: Snapshot, plan: Plan) -> dict[str, list[ExperimentChange]]:
    """Each changed document's experiment-level changes; a failure to read the old bodies
    costs the description, not the publish."""
    changed = sum(1 for p in plan.puts if p.reason == "changed")
    try:
        with timed(f"described {changed} changed {plural(changed, 'document')}", log):
            return describe_changes(run.target, snapshot.manifest, plan.puts)
    except PublisherError as exc:
        log.warning("what changed in each document is not known: %s", exc.message)
        return {}


def _recheck(run: PublishRun, checked: Prepared, snapshot: Snapshot, held: Held) -> Snapshot:
    """Now no other publisher can write: unless the manifest changed since it was read (a
    conditional request, not a second listing), what was read still holds. The marker
    that makes the next run list until this one completes goes beside that request."""
    target = run.target
    marking = Background(partial(target.write_meta, QUICK, UNSETTLED)) if held.unsettle else None
    try:
        current = snapshot.still_current(target)
    finally:
        if marking is not None:  # it lands before any put, and before the lock goes
            marking.wait_out()
    if marking is not None and (failed := marking.error()) is not None:
        raise failed
    if current:
        return snapshot
    if checked.rendered.reused:  # what was reused was checked against the manifest read then
        raise StaleReuse("the manifest changed since it was read")
    run.progress.start("list")
    snapshot = read_live(target, run.options, full=snapshot.live is not None)
    run.progress.finish("list")
    return snapshot


def _refuse_or_mark(run: PublishRun, plan: Plan, result: PublishResult, *, marked: bool) -> None:
    """The delete guards, before anything is written (a refusal carries the plan); then
    the 'unsettled' marker, if not already written, before the first document."""
    options = run.options
    if options.prune:
        try:
            check_deletes(plan, max_deletes=options.max_deletes, force=options.force)
        except PlanRefusedError as exc:  # reported with the plan it refused
            result.refused = exc.message
            raise PublishRefused(exc.message, exc.problems, result) from None
    if (plan.puts or (options.prune and plan.deletes)) and not marked:
        run.target.write_meta(QUICK, UNSETTLED)


def _upload(run: PublishRun, plan: Plan, result: PublishResult, held: Held) -> None:
    """Put every planned document; a failure says how many were written."""
    count = len(plan.puts)
    run.progress.start("upload", count)
    with timed(f"wrote {count} {plural(count, 'document')}", log):
        try:
            tick = refresher(run.target, held.info, run.options.lock_ttl)
            result.written = apply_puts(run.target, plan.puts, run.progress, tick, held.workers)
        except UploadError as exc:
            result.written = exc.written
            result.failed_uploads = exc.each
            raise PublishIncomplete(exc.message, exc.problems, result) from None
    run.progress.finish("upload")


def _delete(run: PublishRun, snapshot: Snapshot, plan: Plan, result: PublishResult) -> Plan:
    """With --prune, once every put succeeded: delete what the plan (read back) says."""
    options, target = run.options, run.target
    if options.prune and not options.prune_unmanaged and plan.deletes:
        plan = result.plan = snapshot.verify_deletes(plan, target)  # after every put succeeded
    if options.prune and plan.deletes:
        run.progress.start("delete", len(plan.deletes))
        target.delete_documents(plan.deletes)
        result.deleted = list(plan.deletes)
        run.progress.finish("delete")
    return plan


def _record(
    run: PublishRun,
    writes: WriteBehind,
    checked: Prepared,
    snapshot: Snapshot,
    result: PublishResult,
    held: Held,
) -> None:
    """History's pack, base and record side by side, then the manifest that names them;
    then what history no longer needs is deleted."""
    manifest, rendered, options = snapshot.manifest, checked.rendered, run.options
    published = {key: doc.sha256 for key, doc in rendered.documents.items()}
    documents = manifest_documents(manifest, published, result.deleted, snapshot.live)
    change = Change("publish", [p.key for p in result.plan.puts], held.delivery)
    history, garbage = record_history(
        writes, manifest, documents, rendered.documents, change, options.keep_generations
    )
    new = NewGeneration(
        documents,
        state_sha256=checked.state.sha256,
        counts=result.counts(),
        extra={"stopped_policy": str(options.stopped_policy)},
        full_scan_at=snapshot.scanned_at or manifest.full_scan_at,
        keys=_bounds_from(rendered, snapshot),
        history=history,
        orgs=org_section(checked.state, rendered, manifest.salt, options),
        headers=run.target.headers,
    )
    result.generation = record_generation(writes, manifest, new, now=run.clock())
    result.repaired = result.generation == manifest.generation
    writes.delete_meta(garbage)


def _purge(run: PublishRun, checked: Prepared, snapshot: Snapshot, result: PublishResult) -> None:
    """Purge what changed (and what a failed purge left pending); a failure is kept on the
    result, reported once the webhooks are pushed."""
    if run.purger is None:
        return
    changed = [p.key for p in result.plan.puts] + result.deleted
    salt = snapshot.manifest.salt
    known = {key_hash(k, salt): k for k in [*checked.rendered.keys, *result.plan.deletes]}
    run.progress.start("purge")
    try:
        result.purged = purge_changed(
            run.purger, run.target, changed, known, snapshot.pending_purge, salt
        )
    except StorageError as exc:
        result.purge_error = exc
    run.progress.finish("purge")


def _bounds_from(rendered: Rendered, snapshot: Snapshot) -> Iterable[str] | None:
    """The keys the next full scan's ranges split (None: keep the manifest's; none: the
    store answered the ranges one at a time, so the next lists in one chain)."""
    if rendered.reused:
        return None
    return () if snapshot.ranges_pay is False else rendered.documents.keys()
