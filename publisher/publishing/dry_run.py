"""What a dry run says: the plan, what a purge would cover, what changed, a refused prune."""

from __future__ import annotations

from ..delivery.cdn import Purger
from ..delivery.purge import pending_keys
from ..documents.render import Rendered
from ..errors import PublisherError
from ..redact import key_hash
from ..settings import PublishOptions
from ..targets import Target
from .change_details import describe_changes
from .plan import Plan, check_deletes
from .result import PublishResult
from .target_snapshot import Snapshot


def dry_run(
    rendered: Rendered,
    target: Target,
    options: PublishOptions,
    plan: Plan,
    purger: Purger | None,
    snapshot: Snapshot,
) -> PublishResult:
    """The result of a publish that changes nothing: what it would write and purge."""
    result = PublishResult(target.description, True, plan, rendered)
    if purger is not None:
        deleted = plan.deletes if options.prune else []
        pending, salt = snapshot.pending_purge, snapshot.manifest.salt
        keys = _purge_keys([p.key for p in plan.puts] + deleted, rendered, plan, pending, salt)
        result.purge_preview = purger.describe([purger.edges.path(k) for k in keys])
    result.diffs = describe_changes(target, snapshot.manifest, plan.puts)
    if options.prune:
        try:
            check_deletes(plan, max_deletes=options.max_deletes, force=options.force)
        except PublisherError as exc:
            result.refused = exc.message
    return result


def _purge_keys(
    changed: list[str], rendered: Rendered, plan: Plan, pending: list[str], salt: str
) -> list[str]:
    """The keys a purge covers: the changed ones and those a failed purge left pending."""
    known = {key_hash(k, salt): k for k in [*rendered.keys, *plan.deletes]}
    return sorted(set(changed) | set(pending_keys(pending, known)))
