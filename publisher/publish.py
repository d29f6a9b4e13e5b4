"""The publish algorithm of SPEC section 5; it knows targets only through their interface."""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .apply import Progress, apply_puts, refresher
from .cdn import Purger
from .errors import Problem, PublisherError, StorageError
from .lock import DEFAULT_LOCK_TTL, LockInfo, new_lock
from .manifest import MANIFEST, Manifest, build_manifest, manifest_documents, parse_manifest
from .model import State, StoppedPolicy
from .plan import (
    DEFAULT_MAX_DELETES,
    ExperimentChange,
    LiveObject,
    Plan,
    check_deletes,
    diff_documents,
    plan_sync,
)
from .redact import key_hash
from .render import Rendered, render_documents
from .state import load_state
from .targets import Target, open_target
from .validate import DEFAULT_MAX_DOCUMENT_BYTES, validate_documents
from .webhooks import RECORD, Delivery, Hook, Record, Sender, notify, resolve_hooks, scope_shas

log = logging.getLogger(__name__)

PENDING_PURGE = "pending-purge.json"


@dataclass(frozen=True)
class PublishOptions:
    stopped_policy: StoppedPolicy = "winners-only"
    prune: bool = False
    max_deletes: int = DEFAULT_MAX_DELETES
    force: bool = False
    dry_run: bool = False
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    lock_ttl: float = DEFAULT_LOCK_TTL
    environ: Mapping[str, str] | None = None
    """Where webhook secrets are read from (default: os.environ)."""


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

    @property
    def left_in_place(self) -> list[str]:
        """Keys no longer in the state whose documents stay live (no --prune)."""
        return [] if self.deleted else self.plan.deletes


def prepare(
    state: State | str | Path, options: PublishOptions, *, secrets: bool = True
) -> tuple[State, Rendered, list[Hook]]:
    """Load (if given a path), render and validate, and read webhook secrets: everything
    that can fail before the first write. `secrets=False` skips the secrets (no hooks)."""
    with _timed("loaded the state"):
        loaded = state if isinstance(state, State) else load_state(state)
    environ = os.environ if options.environ is None else options.environ
    hooks = resolve_hooks(loaded, environ) if secrets else []
    with _timed("rendered the documents"):
        rendered = render_documents(loaded, options.stopped_policy)
    with _timed("validated the documents"):
        validate_documents(rendered, options.max_document_bytes)
    return loaded, rendered, hooks


@contextmanager
def _timed(what: str) -> Iterator[None]:
    """Log how long a step took (shown with --verbose)."""
    start = time.perf_counter()
    yield
    log.info("%s in %.2f s", what, time.perf_counter() - start)


def publish(
    state: State | str | Path,
    target: Target | str | Path,
    options: PublishOptions | None = None,
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
    options = options or PublishOptions()
    tgt = target if not isinstance(target, str | Path) else open_target(str(target))
    reading = _Background(lambda: Snapshot.read(tgt))
    loaded, rendered, hooks = prepare(state, options)
    snapshot = reading.result()
    plan = snapshot.plan(rendered)
    due = [h.label for h in snapshot.record.due(hooks, scope_shas(rendered, hooks))]
    if options.dry_run:
        result = _dry_run(rendered, tgt, options, plan)
        result.webhooks_due = due
        return result
    if not due and _up_to_date(loaded, rendered, plan, snapshot, options):
        generation = snapshot.manifest.generation
        return PublishResult(tgt.description, False, plan, rendered, generation=generation)
    del snapshot, plan  # read again under the lock; do not hold two copies
    info = new_lock(options.lock_ttl)
    tgt.acquire_lock(info)
    # The state and documents live to the end: keep the collector from rescanning
    # them on every few thousand allocations of the uploads.
    gc.freeze()
    try:
        result = _publish_locked(loaded, rendered, tgt, options, info, progress, purger)
        return _push(result, tgt, hooks, sender or Sender())
    finally:
        gc.unfreeze()
        tgt.release_lock(info)


@dataclass(frozen=True)
class Snapshot:
    """What is on the target: live documents, the manifest, purges and pushes left pending."""

    live: dict[str, LiveObject]
    manifest: Manifest
    pending_purge: list[str]
    record: Record

    @classmethod
    def read(cls, target: Target) -> Snapshot:
        with _timed(f"read what is live at {target.description}"):
            manifest = parse_manifest(target.read_meta(MANIFEST))
            record = Record.parse(target.read_meta(RECORD))
            return cls(target.list_live(), manifest, _read_pending(target), record)

    def plan(self, rendered: Rendered) -> Plan:
        return plan_sync(rendered.documents, self.live, self.manifest.documents)


class _Background:
    """Run one call on a daemon thread (an invalid state must not wait for a listing)."""

    def __init__(self, call: Callable[[], Snapshot]) -> None:
        self._call = call
        self._value: Snapshot | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:
            self._error = exc

    def result(self) -> Snapshot:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


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
    rendered: Rendered, target: Target, options: PublishOptions, plan: Plan
) -> PublishResult:
    result = PublishResult(target.description, True, plan, rendered)
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
    progress: Progress | None,
    purger: Purger | None,
) -> PublishResult:
    snapshot = Snapshot.read(target)  # again: now no other publisher can write
    plan = snapshot.plan(rendered)
    if options.prune:
        check_deletes(plan, max_deletes=options.max_deletes, force=options.force)
    with _timed(f"wrote {len(plan.puts)} document(s)"):
        apply_puts(target, plan.puts, progress, refresher(target, info, options.lock_ttl))
    result = PublishResult(target.description, False, plan, rendered)
    if options.prune and plan.deletes:
        target.delete_documents(plan.deletes)
        result.deleted = list(plan.deletes)
    result.generation = _record_generation(state, result, snapshot.manifest, target, options)
    if purger is not None:
        changed = [p.key for p in plan.puts] + result.deleted
        known = _known_keys(rendered, plan)
        try:
            result.purged = purge_changed(purger, target, changed, known, snapshot.pending_purge)
        except StorageError as exc:
            result.purge_error = exc
    return result


def _push(
    result: PublishResult, target: Target, hooks: list[Hook], sender: Sender
) -> PublishResult:
    """Push changed documents to webhooks once they are live; exit 4 while any is pending.

    A failed purge is raised after the pushes: the documents are live either way.
    """
    record = Record.parse(target.read_meta(RECORD))
    if hooks or record.hooks:  # also forgets the webhooks gone from the state
        result.webhooks = notify(target, result.rendered, hooks, record, sender)
    if result.purge_error is not None:
        raise result.purge_error
    if result.webhooks.failed:
        problems = [
            Problem(label, error) for label, error in sorted(result.webhooks.failed.items())
        ]
        raise StorageError(
            f"the documents are published, but {len(problems)} webhook delivery(ies) failed; "
            "the next publish retries them",
            problems,
        )
    return result


def _known_keys(rendered: Rendered, plan: Plan) -> dict[str, str]:
    keys = [*rendered.keys, *plan.deletes]
    return {key_hash(k): k for k in keys}


def _record_generation(
    state: State, result: PublishResult, manifest: Manifest, target: Target, options: PublishOptions
) -> int:
    plan, rendered = result.plan, result.rendered
    documents = manifest_documents(
        manifest, {key: doc.sha256 for key, doc in rendered.documents.items()}, result.left_in_place
    )
    if documents == manifest.documents and state.sha256 == manifest.state_sha256:
        return manifest.generation  # nothing changed: no new generation
    counts = {
        "documents": len(rendered.documents),
        "distinct": len(rendered.distinct()),
        "added": plan.count("added"),
        "changed": plan.count("changed"),
        "unchanged": plan.unchanged,
        "deleted": len(result.deleted),
        "left_in_place": len(result.left_in_place),
    }
    generation, body, summary = build_manifest(
        manifest,
        documents,
        state_sha256=state.sha256,
        counts=counts,
        extra={"stopped_policy": options.stopped_policy},
    )
    target.write_meta(MANIFEST, body)
    target.write_meta(f"generations/{generation:08d}.json", summary)
    return generation


def purge_changed(
    purger: Purger,
    target: Target,
    changed: list[str],
    known: dict[str, str],
    pending: list[str],
) -> list[str]:
    """Purge the changed keys' paths and any left pending by a failed purge; return the paths.

    A failed purge is recorded under _publisher/ (as key hashes) and retried next time.
    """
    keys = sorted(set(changed) | {known[h] for h in pending if h in known})
    if not keys:
        return []
    paths = [target.document_path(k) for k in keys]
    try:
        purger.purge(paths)
    except StorageError as exc:
        target.write_meta(PENDING_PURGE, _pending_bytes(keys))
        raise StorageError(
            f"the documents are published, but the CDN purge failed: {exc.message}; the "
            "next publish retries it, or purge these paths by hand",
            [Problem("", path) for path in paths],
        ) from None
    if pending:
        target.write_meta(PENDING_PURGE, _pending_bytes([]))
    return paths


def _read_pending(target: Target) -> list[str]:
    raw = target.read_meta(PENDING_PURGE)
    try:
        value = json.loads(raw) if raw else {}
        return [str(h) for h in value.get("keys", [])]
    except (ValueError, AttributeError):
        return []


def _pending_bytes(keys: list[str]) -> bytes:
    return json.dumps({"keys": sorted(key_hash(k) for k in keys)}, indent=1).encode() + b"\n"
