"""`publisher rollback --to N`: make what is live exactly what was live at generation N.

Needs no state: the documents of N come from the kept history (history.py), their
bodies from the packs under `_publisher/bodies/`. Raw keys are not kept anywhere under
`_publisher/`, so a document is put back only where its key is known: live now (a
listing names it) or in the `--state` given. The plan is made from a listing of what is
live, so a rollback cut short (a crash, Ctrl-C) converges when run again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..bookkeeping.completion_marker import QUICK, UNSETTLED
from ..bookkeeping.history import (
    Change,
    Documents,
    check_kept,
    documents_at,
    note_delivery,
    read_pack,
    read_record,
)
from ..bookkeeping.history import record as record_history
from ..bookkeeping.manifest import (
    MANIFEST,
    Manifest,
    NewGeneration,
    parse_manifest,
    record_generation,
)
from ..delivery.cdn import Purger
from ..delivery.hooks import resolve_hooks
from ..delivery.purge import PENDING_PURGE, parse_pending, purge_changed
from ..delivery.rollback_push import push_restored
from ..delivery.sender import Sender
from ..delivery.webhooks import Delivery
from ..documents.render import Document
from ..errors import PlanRefusedError, StorageError
from ..progress import Progress, Silent
from ..publishing.plan import Plan, Put, check_deletes
from ..publishing.target_snapshot import guard_deletes
from ..publishing.uploads import apply_puts, refresher
from ..redact import key_hash
from ..settings import PublishOptions
from ..state import State
from ..targets import Target
from ..targets.interface import LiveObject
from ..targets.publish_lock import LockInfo, new_lock


@dataclass
class RollbackResult:
    target: str
    to: int
    dry_run: bool
    plan: Plan
    unrestorable: list[str] = field(default_factory=list)
    """Labels of documents of N whose key is not known (not live, not in --state)."""
    generation: int | None = None
    recorded: bool = False
    """A new generation (of kind rollback) was recorded: something changed."""
    purged: list[str] = field(default_factory=list)
    purge_error: StorageError | None = None
    revived: list[str] = field(default_factory=list)
    """Keys put back that the --state revokes (they were live at the generation)."""
    webhooks: Delivery = field(default_factory=Delivery)
    """With a state: the pushes of the scopes this rollback changed."""
    refused: str | None = None
    """A dry run: why the rollback itself would be refused (the delete guards)."""


def plan_rollback(
    wanted: Documents,
    live: Mapping[str, LiveObject],
    bodies: Mapping[str, Document],
    known: Mapping[str, str],
    managed: Mapping[str, str],
    salt: str,
) -> tuple[Plan, list[str]]:
    """The puts and deletes that make `live` what `wanted` says (pure).

    `wanted` maps key hash → [body sha256, label]; `bodies` holds each body by its
    sha256; `known` maps key hash → key for every key known; `managed` is the current
    manifest (only documents it records are ever deleted). Returns the plan and the
    labels of wanted documents whose key is not known."""
    puts, unknown, unchanged = [], [], 0
    for h, (sha, label) in sorted(wanted.items()):
        key = known.get(h)
        if key is None:
            unknown.append(label or f"sha256:{h[:12]}")
            continue
        doc, obj = bodies[sha], live.get(key)
        if obj is not None and obj.md5 == doc.md5:
            unchanged += 1
        else:
            puts.append(Put(key, doc, "changed" if obj is not None else "added"))
    hashed = {k: key_hash(k, salt) for k in live}
    deletes = sorted(k for k, h in hashed.items() if h not in wanted and h in managed)
    return Plan(puts, deletes, unchanged, len(live)), sorted(unknown)


def rollback(
    target: Target,
    to: int,
    options: PublishOptions,
    *,
    state: State | None = None,
    purger: Purger | None = None,
    progress: Progress | None = None,
    sender: Sender | None = None,
) -> RollbackResult:
    """Roll `target` back to generation `to` (see the module's docstring). With `state`,
    its webhooks whose scope changed are pushed the documents put back."""
    progress = progress or Silent()
    if options.dry_run:  # says what the rollback would do, and whether it would be refused
        planned = _plan(target, to, state, options)[0]
        try:
            check_deletes(planned.plan, max_deletes=options.max_deletes, force=options.force)
        except PlanRefusedError as exc:
            planned.refused = exc.message
        return planned
    environ = os.environ if options.environ is None else options.environ
    hooks = resolve_hooks(state, environ) if state is not None else []  # before any write
    check_kept(parse_manifest(target.read_meta(MANIFEST)), to)  # before the lock: no trace
    info = new_lock(options.lock_ttl)
    target.acquire_lock(info)
    try:
        result, manifest, live, known = _plan(target, to, state, options)
        _apply(target, result.plan, options, info, progress)
        _record(target, manifest, live, result, options)
        if purger is not None:
            _purge(target, purger, result, known, manifest.salt)
        if hooks and state is not None:
            scopes = _by_scope(state, result.plan.puts)
            result.webhooks = push_restored(target, hooks, scopes, sender or Sender())
        if result.recorded and result.generation is not None:
            purge = "none" if purger is None else "failed" if result.purge_error else "done"
            sent = result.webhooks
            pushed = "failed" if sent.failed else "done" if sent.delivered else "none"
            note_delivery(target, result.generation, purge, pushed)
        return result
    finally:
        target.release_lock(info)


def _apply(
    target: Target, plan: Plan, options: PublishOptions, info: LockInfo, progress: Progress
) -> None:
    """Under the lock: the delete guards, the 'unsettled' marker, the puts, the deletes."""
    check_deletes(plan, max_deletes=options.max_deletes, force=options.force)
    if plan.puts or plan.deletes:  # the next publish lists until this one ends
        target.write_meta(QUICK, UNSETTLED)
    progress.start("upload", len(plan.puts))
    apply_puts(target, plan.puts, progress, refresher(target, info, options.lock_ttl))
    progress.finish("upload")
    if plan.deletes:
        target.delete_documents(plan.deletes)


def _record(
    target: Target,
    manifest: Manifest,
    live: Mapping[str, LiveObject],
    result: RollbackResult,
    options: PublishOptions,
) -> None:
    """Record the rollback as a new generation when anything changed."""
    plan, salt = result.plan, manifest.salt
    documents = dict(manifest.documents)
    documents.update((key_hash(p.key, salt), p.document.sha256) for p in plan.puts)
    for key in plan.deletes:
        documents.pop(key_hash(key, salt), None)
    if documents == manifest.documents and not plan.puts and not plan.deletes:
        result.generation = manifest.generation
        return
    restored = {p.key: p.document for p in plan.puts}
    change = Change("rollback", list(restored))
    history, garbage = record_history(
        target, manifest, documents, restored, change, options.keep_generations
    )
    origin = read_record(target, result.to) or {}
    counts = {"added": plan.count("added"), "changed": plan.count("changed"),
              "deleted": len(plan.deletes), "unchanged": plan.unchanged}  # fmt: skip
    new = NewGeneration(
        dict(sorted(documents.items())),
        str(origin.get("state_sha256") or ""),
        counts,
        extra={"rolled_back_to": result.to},
        full_scan_at=manifest.full_scan_at,
        keys=live,
        history=history,
        headers=target.headers,
    )
    result.generation = record_generation(target, manifest, new)
    target.delete_meta(garbage)
    result.recorded = True


def _purge(
    target: Target, purger: Purger, result: RollbackResult, known: dict[str, str], salt: str
) -> None:
    changed = [p.key for p in result.plan.puts] + result.plan.deletes
    pending = parse_pending(target.read_meta(PENDING_PURGE), salt)
    try:
        result.purged = purge_changed(purger, target, changed, known, pending, salt)
    except StorageError as exc:
        result.purge_error = exc


def _plan(
    target: Target, to: int, state: State | None, options: PublishOptions
) -> tuple[RollbackResult, Manifest, dict[str, LiveObject], dict[str, str]]:
    manifest = parse_manifest(target.read_meta(MANIFEST))
    if manifest.headers is not None:  # put back among the others, as they are stored
        target.keep_headers(manifest.headers)
    wanted = documents_at(target, manifest, to)
    live = target.list_live(manifest.scan_bounds)
    state_keys = [k.key for o in state.organizations for k in o.api_keys] if state else []
    known = {key_hash(k, manifest.salt): k for k in [*live, *state_keys]}
    bodies = _bodies(target, manifest, {e[0] for e in wanted.values()})
    plan, unknown = plan_rollback(wanted, live, bodies, known, manifest.documents, manifest.salt)
    plan = guard_deletes(plan, target, manifest)  # the delete guard a prune has
    result = RollbackResult(target.description, to, options.dry_run, plan, unknown)
    revoked = (
        {k.key for o in state.organizations for k in o.api_keys if k.revoked} if state else set()
    )
    result.revived = [p.key for p in plan.puts if p.key in revoked]
    return result, manifest, live, known


def _by_scope(state: State, puts: list[Put]) -> dict[tuple[str, str | None], Document]:
    """The document each (organization, project) scope now has, from the keys put back."""
    scope_of = {k.key: (o.id, k.project) for o in state.organizations for k in o.api_keys}
    return {scope_of[p.key]: p.document for p in puts if p.key in scope_of}


def _bodies(target: Target, manifest: Manifest, wanted: set[str]) -> dict[str, Document]:
    """Each wanted body, read from its pack (each pack once) and checked by its sha256."""
    packs: dict[int, dict[str, bytes]] = {}
    found: dict[str, Document] = {}
    for sha in sorted(wanted):
        pack = manifest.bodies.get(sha)
        if pack is not None and pack not in packs:
            packs[pack] = read_pack(target, pack)
        body = packs.get(pack, {}).get(sha) if pack is not None else None
        if body is None:
            raise StorageError(f"the kept body {sha[:12]}… is missing or damaged: cannot restore")
        md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
        found[sha] = Document(body, sha, md5, "", None)
    return found
