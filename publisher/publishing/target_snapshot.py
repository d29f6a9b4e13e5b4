"""What is on the target before a publish: live documents, manifest, pending purges and pushes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from ..bookkeeping.completion_marker import QUICK, UNSETTLED
from ..bookkeeping.manifest import MANIFEST, Manifest, parse_manifest
from ..delivery.purge import PENDING_PURGE, parse_pending
from ..delivery.webhook_record import RECORD, Record
from ..documents.render import CONTENT_TYPE, Rendered
from ..progress import timed
from ..settings import DEFAULT_CACHE_CONTROL, DEFAULT_FULL_SCAN_EVERY
from ..targets import Target
from ..targets.interface import LiveObject
from ..threads import side_by_side
from .plan import Plan, StaleReuse, keep_changed_by_others, plan_from_manifest, plan_sync

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """What is on the target: the manifest, live documents when listed, purges and pushes
    left pending."""

    live: dict[str, LiveObject] | None
    """Every live document, when this snapshot listed them; None when it planned from an
    intact manifest instead."""
    manifest: Manifest
    pending_purge: list[str]
    record: Record
    tag: str | None = None
    """The manifest's tag (ETag): under the lock, a conditional request says whether it
    changed since, instead of a second listing."""
    scanned_at: float | None = None
    """When this snapshot listed what is live (None: it did not)."""
    scan_due: bool = False
    """A full scan was due, but not run (`list_when_due=False`)."""
    ranges_pay: bool | None = None
    """The listing's key ranges paid off side by side (False: the next lists in one)."""
    quick: bytes | None = None
    """The marker the last publish left (publishing/quick_noop.py), as read."""

    @classmethod
    def read(
        cls,
        target: Target,
        *,
        full_scan: bool = False,
        full_scan_every: float = DEFAULT_FULL_SCAN_EVERY,
        now: float | None = None,
        list_when_due: bool = True,
    ) -> Snapshot:
        """Read the manifest and what is pending; list what is live only when a full scan is
        due: forced, the manifest missing or not intact, or the last one too old."""
        now = time.time() if now is None else now
        with timed(f"read what is live at {target.description}", log):
            # Four small reads side by side: one round trip, not four.
            reads: list[Any] = side_by_side(
                [
                    lambda: target.read_meta_tagged(MANIFEST),
                    lambda: Record.parse(target.read_meta(RECORD)),
                    lambda: target.read_meta(PENDING_PURGE),
                    lambda: target.read_meta(QUICK),
                ]
            )
            (raw, tag), record, pending_raw, quick = reads
            manifest = parse_manifest(raw)
            pending = parse_pending(pending_raw, manifest.salt)
            last = manifest.full_scan_at
            # `unsettled`: a publish that began writing documents and stopped short left
            # the manifest behind what is live: only a listing tells what it wrote.
            # A last scan in the future (a runner with a fast clock) is no scan at all.
            due = last is None or last > now or now - last >= full_scan_every
            due = due or quick == UNSETTLED
            if not (full_scan or not manifest.intact or due):
                return cls(None, manifest, pending, record, tag, quick=quick)
            if not list_when_due:
                return cls(None, manifest, pending, record, tag, scan_due=True, quick=quick)
            log.info("listing every document at %s (a full scan)", target.description)
            live = target.list_live(manifest.scan_bounds)
            return cls(
                live, manifest, pending, record, tag, now, ranges_pay=target.ranges_pay, quick=quick
            )

    def plan(
        self, rendered: Rendered, target: Target | None = None, adopt_unmanaged: bool = False
    ) -> Plan:
        """Return the plan that brings this snapshot to the rendered documents.

        With `target`, each document planned for deletion is read back (few: it is a
        prune) and kept if another tool has rewritten it since publisher wrote it.
        """
        if rendered.reused and (
            self.live is not None or not rendered.reused <= self.manifest.documents.keys()
        ):
            raise StaleReuse("the documents of unchanged organizations are needed")
        if self.live is None:
            return plan_from_manifest(
                rendered.documents,
                self.manifest.documents,
                rendered.keys,
                self.manifest.salt,
                rendered.reused,
            )
        plan = plan_sync(
            rendered.documents,
            self.live,
            self.manifest.documents,
            adopt_unmanaged=adopt_unmanaged,
            salt=self.manifest.salt,
        )
        if target is None or adopt_unmanaged:
            return plan
        return self.verify_deletes(plan, target)

    def listed(self, target: Target) -> Snapshot:
        """This snapshot with a full listing of what is live (a scan was due)."""
        log.info("listing every document at %s (a full scan)", target.description)
        now = time.time()
        live = target.list_live(self.manifest.scan_bounds)
        return replace(
            self, live=live, scanned_at=now, scan_due=False, ranges_pay=target.ranges_pay
        )

    def still_current(self, target: Target) -> bool:
        """True when the manifest has not changed since this snapshot read it."""
        return target.meta_unchanged(MANIFEST, self.tag)

    def verify_deletes(self, plan: Plan, target: Target) -> Plan:
        """The delete guard (guard_deletes) against this snapshot's manifest."""
        return guard_deletes(plan, target, self.manifest)


def guard_deletes(plan: Plan, target: Target, manifest: Manifest) -> Plan:
    """The one delete guard, of a prune and of a rollback: keep, as unmanaged, each
    planned delete whose live bytes publisher did not write (another tool rewrote it
    since). Reads back each one: only a prune or a rollback calls this."""
    if not plan.deletes:
        return plan
    live = {key: target.document_sha256(key) for key in plan.deletes}
    return keep_changed_by_others(plan, manifest.documents, live, manifest.salt)


DEFAULT_HEADERS = {"Cache-Control": DEFAULT_CACHE_CONTROL, "Content-Type": CONTENT_TYPE}
"""What a document was put with before manifests recorded it."""


def headers_changed(
    manifest: Manifest, now: dict[str, str] | None
) -> list[tuple[str, str | None, str]]:
    """The headers the documents are to be stored with that differ from what the manifest
    says they were put with (a manifest that says nothing: the defaults)."""
    if now is None or not manifest.intact:
        return []  # a directory keeps none; without a manifest every document is put
    before = manifest.headers if manifest.headers is not None else DEFAULT_HEADERS
    return [
        (name, before.get(name), value) for name, value in now.items() if before.get(name) != value
    ]
