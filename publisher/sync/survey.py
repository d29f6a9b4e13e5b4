"""What a publish learns before it takes the lock: what is live, the state (reusing the
organizations a complete publish already checked), and the plan."""

from __future__ import annotations

import logging
from pathlib import Path

from ..delivery.hooks import Hook
from ..documents.render import Rendered
from ..errors import PublisherError
from ..settings import PublishOptions
from ..state import State
from ..threads import Background
from .orgs import org_reuse
from .plan import Plan, StaleReuse
from .prepare import prepare
from .snapshot import Snapshot
from .targets import Target

log = logging.getLogger(__name__)


def survey(
    state: State | str | Path, target: Target, options: PublishOptions, reuse: bool
) -> tuple[State, Rendered, list[Hook], Snapshot]:
    """Load, render and validate the state, and read what is live beside it.

    A JSON state reads the manifest first: it says which organizations need not be read
    again (`reuse`). Otherwise what is live is read while the state loads."""
    if isinstance(state, str | Path) and Path(state).suffix.lower() == ".json":
        head = _head(state, target, options)
        listing = Background(lambda: head.listed(target)) if head.scan_due else None
        usable = reuse and listing is None and not head.pending_purge
        found = org_reuse(head.manifest if usable else None, options)
        loaded, rendered, hooks = prepare(state, options, reuse=found)
        return loaded, rendered, hooks, head if listing is None else listing.result()
    reading = Background(lambda: read_live(target, options))
    loaded, rendered, hooks = prepare(state, options)
    return loaded, rendered, hooks, reading.result()


def _head(state: str | Path, target: Target, options: PublishOptions) -> Snapshot:
    """The target's manifest and what is pending, without a listing; when it cannot be
    read, the state's own problems are said first."""
    try:
        return read_live(target, options, listing=False)
    except PublisherError:
        prepare(state, options, secrets=False)
        raise


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
    return snapshot, plan
