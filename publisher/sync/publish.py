"""The publish algorithm of SPEC §5; it knows targets and CDNs only through their interfaces."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

from ..delivery.cdn import Purger
from ..delivery.purge import purge_changed
from ..delivery.sender import Sender
from ..delivery.webhooks import scope_shas
from ..documents.render import Rendered
from ..errors import DocumentError, PlanRefusedError, PublisherError, StateError, StorageError
from ..progress import Progress, Silent
from ..redact import key_hash, plural
from ..settings import PublishOptions
from ..state import State
from ..threads import Background
from .apply import UploadError, Workers, apply_puts, refresher, workers_for
from .changes import describe_changes
from .deliver import outcomes, push
from .history import note_delivery, reads_ahead
from .history import record as record_history
from .lock import LockInfo, new_lock
from .manifest import manifest_documents, record_generation
from .orgs import org_section
from .plan import Plan, StaleReuse, check_deletes
from .preview import dry_run
from .quick import marker
from .result import PublishIncomplete, PublishRefused, PublishResult
from .snapshot import QUICK, SETTLED, UNSETTLED, Snapshot, timed
from .survey import first_look, plan_for, read_live, survey
from .targets import Target
from .writes import WriteBehind

log = logging.getLogger(__name__)


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

    A state file reads the target's manifest, pending work and marker first (one round
    trip): an unchanged state stops there (sync/quick.py), and a JSON state's
    organizations unchanged since a complete publish are not read again (sync/survey.py).
    A publish that finds nothing to do takes no lock and writes nothing; otherwise it
    takes the lock and checks the manifest again.
    """
    progress = progress or Silent()
    head = None
    if isinstance(state, str | Path):
        with _nothing_published():
            head, quick = first_look(state, target, options)
        if quick is not None:
            return quick
    try:
        return _sync(state, target, options, progress, purger, sender, reuse=True, head=head)
    except StaleReuse as exc:  # raised before anything is written; `head` is stale
        log.info("reading the whole state again: %s", exc)
        return _sync(state, target, options, progress, purger, sender, reuse=False)


def _sync(
    state: State | str | Path,
    target: Target,
    options: PublishOptions,
    progress: Progress,
    purger: Purger | None,
    sender: Sender | None,
    *,
    reuse: bool,
    head: Snapshot | None = None,
) -> PublishResult:
    progress.start("list")
    progress.start("load")
    with _nothing_published():
        loaded, rendered, hooks, snapshot = survey(state, target, options, reuse, head)
    progress.finish("load")
    # A dry run of a prune reads back what it would delete; a real one does so after the puts.
    checked = target if options.prune and options.dry_run else None
    snapshot, plan = plan_for(snapshot, rendered, target, options, checked)
    progress.finish("list")
    due = [h.label for h in snapshot.record.due(hooks, scope_shas(rendered, hooks))]
    if options.dry_run:
        result = dry_run(rendered, target, options, plan, purger, snapshot)
        result.webhooks_due = due
        return result
    if not due and _up_to_date(loaded, rendered, plan, snapshot, options):
        generation = snapshot.manifest.generation
        return PublishResult(target.description, False, plan, rendered, generation=generation)
    # The upload threads start while the lock is taken (they wait for their puts), and
    # the marker goes beside the manifest's check when documents are sure to be put.
    workers = workers_for(target, len(plan.puts))
    unsettle = bool(plan.puts) and not options.prune  # a prune may yet be refused
    del plan
    info = new_lock(options.lock_ttl)
    try:
        target.acquire_lock(info)
    except BaseException as exc:
        if workers is not None:
            with suppress(BaseException):  # waited out in full; `exc` is raised
                workers.close()
        if isinstance(exc, KeyboardInterrupt):  # the lock may be written: ours to release
            with suppress(PublisherError):
                target.release_lock(info)
        raise
    # The state and documents live to the end: keep the collector from rescanning
    # them on every few thousand allocations of the uploads.
    gc.freeze()
    try:
        delivery = ("pending" if purger else "none", "pending" if hooks else "none")
        try:
            result = _publish_locked(
                loaded, rendered, target, options, info, progress, purger, snapshot, delivery,
                workers=workers, unsettle=unsettle,
            )  # fmt: skip
        finally:
            if workers is not None:
                workers.close()
        try:
            try:
                push(
                    result, target, hooks, sender or Sender(), progress, bool(snapshot.record.hooks)
                )
            except PublisherError:  # a purge or webhook failed: the documents are settled
                with suppress(PublisherError):
                    target.write_meta(QUICK, SETTLED)
                raise
            # Complete: the next publish of these very bytes may stop at the marker.
            done = marker(result.generation or 0, loaded.sha256, options, rendered)
            target.write_meta(QUICK, done)
            return result
        finally:
            recorded = result.generation != snapshot.manifest.generation
            if recorded and "pending" in delivery:
                note_delivery(target, result.generation or 0, *outcomes(result, purger))
    finally:
        gc.unfreeze()
        target.release_lock(info)


@contextmanager
def _nothing_published() -> Iterator[None]:
    """A state or document found invalid says that nothing was published."""
    try:
        yield
    except (StateError, DocumentError) as exc:
        exc.message += "; nothing was published"
        raise


def _up_to_date(
    state: State, rendered: Rendered, plan: Plan, snapshot: Snapshot, options: PublishOptions
) -> bool:
    """True when a publish would write nothing: no document, manifest or purge pending."""
    if plan.puts or snapshot.pending_purge or (options.prune and plan.deletes):
        return False
    manifest = snapshot.manifest
    if not manifest.intact or _scan_to_record(snapshot, options):
        return False  # the manifest is rewritten: in this format, or with the scan's time
    if snapshot.ranges_pay is False and manifest.scan_bounds:
        return False  # the next full scan lists in one chain: the manifest says so
    published = {key: doc.sha256 for key, doc in rendered.documents.items()}
    documents = manifest_documents(manifest, published, [], snapshot.live)
    return documents == manifest.documents and state.sha256 == manifest.state_sha256


def _scan_to_record(snapshot: Snapshot, options: PublishOptions) -> bool:
    """True when this snapshot's full scan was the one due by --full-scan-every."""
    last, now = snapshot.manifest.full_scan_at, snapshot.scanned_at
    if now is None or options.full_scan_every <= 0:
        return False
    return last is None or now - last >= options.full_scan_every


def _publish_locked(
    state: State,
    rendered: Rendered,
    target: Target,
    options: PublishOptions,
    info: LockInfo,
    progress: Progress,
    purger: Purger | None,
    snapshot: Snapshot,
    delivery: tuple[str, str],
    *,
    workers: Workers | None,
    unsettle: bool,
) -> PublishResult:
    # Now no other publisher can write: unless the manifest changed since it was read (a
    # conditional request, not a second listing), what was read still holds. The marker
    # that makes the next run list until this one completes goes beside that request.
    marking = Background(partial(target.write_meta, QUICK, UNSETTLED)) if unsettle else None
    try:
        current = snapshot.still_current(target)
    finally:
        if marking is not None:  # it lands before any put, and before the lock goes
            marking.wait_out()
    if marking is not None and (failed := marking.error()) is not None:
        raise failed
    if not current:
        if rendered.reused:  # what was reused was checked against the manifest read then
            raise StaleReuse("the manifest changed since it was read")
        progress.start("list")
        snapshot = read_live(target, options, full=snapshot.live is not None)
        progress.finish("list")
    snapshot, plan = plan_for(snapshot, rendered, target, options)
    result = PublishResult(target.description, False, plan, rendered)
    if options.prune:
        try:
            check_deletes(plan, max_deletes=options.max_deletes, force=options.force)
        except PlanRefusedError as exc:  # reported with the plan it refused
            result.refused = exc.message
            raise PublishRefused(exc.message, exc.problems, result) from None
    if (plan.puts or (options.prune and plan.deletes)) and marking is None:
        target.write_meta(QUICK, UNSETTLED)
    if options.describe:  # before the puts: history may collect the old bodies after them
        result.diffs = describe_changes(target, snapshot.manifest, plan.puts)
    manifest = snapshot.manifest  # history's reads are made while the documents upload
    writes = WriteBehind(target, reads_ahead(manifest, options.keep_generations))
    progress.start("upload", len(plan.puts))
    with timed(f"wrote {len(plan.puts)} {plural(len(plan.puts), 'document')}"):
        try:
            tick = refresher(target, info, options.lock_ttl)
            result.written = apply_puts(target, plan.puts, progress, tick, workers)
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
    documents = manifest_documents(
        manifest,
        {key: doc.sha256 for key, doc in rendered.documents.items()},
        result.deleted,
        snapshot.live,
    )
    with writes:  # pack, base and record side by side, then the manifest
        history, garbage = record_history(
            writes,
            manifest,
            documents,
            rendered.documents,
            kind="publish",
            keep=options.keep_generations,
            changed_keys=[p.key for p in plan.puts],
            delivery=delivery,
        )
        result.generation = record_generation(
            writes,
            manifest,
            documents,
            history=history,
            state_sha256=state.sha256,
            counts=result.counts(),
            extra={"stopped_policy": str(options.stopped_policy)},
            full_scan_at=snapshot.scanned_at or manifest.full_scan_at,
            keys=_bounds_from(rendered, snapshot),
            orgs=org_section(state, rendered, manifest.salt, options),
        )
    target.delete_meta(garbage)
    if purger is not None:
        changed = [p.key for p in plan.puts] + result.deleted
        salt = snapshot.manifest.salt
        known = {key_hash(k, salt): k for k in [*rendered.keys, *plan.deletes]}
        progress.start("purge")
        try:
            result.purged = purge_changed(purger, target, changed, known, snapshot.pending_purge)
        except StorageError as exc:
            result.purge_error = exc
        progress.finish("purge")
    return result


def _bounds_from(rendered: Rendered, snapshot: Snapshot) -> Iterable[str] | None:
    """The keys the next full scan's ranges split (None: keep the manifest's; none: the
    store answered the ranges one at a time, so the next lists in one chain)."""
    if rendered.reused:
        return None
    return () if snapshot.ranges_pay is False else rendered.documents.keys()
