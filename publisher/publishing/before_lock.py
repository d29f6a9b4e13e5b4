"""What a publish learns before it takes the lock: what is live, the state (reusing the
organizations a complete publish already checked), and the plan."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from ..bookkeeping.reusable_orgs import org_reuse
from ..documents.render import Rendered
from ..errors import PublisherError
from ..settings import PublishOptions
from ..state import State
from ..state.load import read_state_bytes
from ..targets import Target
from ..threads import Background
from .load_and_render import Prepared, prepare
from .plan import Plan, StaleReuse, rewrite_all
from .quick_noop import quick_noop
from .result import PublishResult
from .target_snapshot import Snapshot, headers_changed

log = logging.getLogger(__name__)


def first_look(
    state: str | Path, target: Target, options: PublishOptions
) -> tuple[Snapshot, PublishResult | None]:
    """What the target says before the state is read (its manifest, what is pending, the
    last publish's marker: one round trip, no listing), and the result of a publish with
    nothing to do when that is certain (quick_noop.py). When the target cannot be read,
    the state's own problems are said first."""
    state_sha256 = hashlib.sha256(read_state_bytes(Path(state))).hexdigest()  # usage first
    try:
        head = read_live(target, options, listing=False)
    except PublisherError:
        prepare(state, options, secrets=False)
        raise
    return head, quick_noop(head, target, state_sha256, options)


def survey(
    state: State | str | Path,
    target: Target,
    options: PublishOptions,
    reuse: bool,
    head: Snapshot | None = None,
) -> tuple[Prepared, Snapshot]:
    """Load, render and validate the state, and read what is live beside it.

    A state file starts from the target's `head` (first_look; read here if not given): a
    listing, when one is due, runs while the state loads, and a JSON state's unchanged
    organizations need not be read again (`reuse`). A State in memory is loaded while
    what is live is read."""
    if isinstance(state, str | Path):
        if head is None:
            head = first_look(state, target, options)[0]
        found = head
        listing = Background(lambda: found.listed(target)) if head.scan_due else None
        usable = reuse and listing is None and not head.pending_purge
        is_json = Path(state).suffix.lower() == ".json"
        reused = org_reuse(head.manifest if usable and is_json else None, options)
        checked = prepare(state, options, reuse=reused)
        return checked, head if listing is None else listing.result()
    reading = Background(lambda: read_live(target, options))
    checked = prepare(state, options)
    return checked, reading.result()


def read_live(
    target: Target, options: PublishOptions, full: bool = False, listing: bool = True
) -> Snapshot:
    # Only a listing finds what publisher did not write: --prune-unmanaged lists.
    return Snapshot.read(
        target,
        full_scan=full or options.full_scan or options.prune_unmanaged,
        full_scan_every=options.full_scan_every,
        list_when_due=listing,
    )


def plan_for(
    snapshot: Snapshot,
    rendered: Rendered,
    target: Target,
    options: PublishOptions,
    checked: Target | None = None,
) -> tuple[Snapshot, Plan]:
    """Plan; a prune that would leave documents of keys the state no longer names (the
    manifest has no raw key to delete them by) lists what is live first."""
    plan = snapshot.plan(rendered, checked, adopt_unmanaged=options.prune_unmanaged)
    if options.prune and plan.hidden and snapshot.live is None:
        if rendered.reused:
            raise StaleReuse("a prune of keys gone from the state lists what is live")
        log.info("%d documents of keys gone from the state: listing to name them", plan.hidden)
        snapshot = read_live(target, options, full=True)
        plan = snapshot.plan(rendered, checked, adopt_unmanaged=options.prune_unmanaged)
    changed = headers_changed(snapshot.manifest, target.headers)
    if changed:
        if rendered.reused:
            raise StaleReuse("the documents' headers change: every document is put again")
        plan = rewrite_all(plan, rendered.documents, changed)
    return snapshot, plan
