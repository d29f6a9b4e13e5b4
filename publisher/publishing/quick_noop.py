"""The quickest no-op: a state whose very bytes were published, and nothing else due.

Republishing an unchanged state (a cron job every minute) would parse, check and render
the whole state only to find nothing changed: at 100,000 keys, seconds of CPU. So a
publish that completed in full (documents, manifest, purge, webhooks) leaves a marker,
`_publisher/quick.json`: the generation it recorded, the state file's sha256 and a
fingerprint of everything else that shapes the documents (the publisher's version, the
stopped-policy, the size limit). When the next publish finds the same state bytes and
fingerprint, the manifest intact at that generation, and nothing else due (no full
scan, no pending purge, no document left live that a prune would delete), it stops
there. Anything else,
or any doubt, takes the full path. A webhook delivery that failed leaves no marker, so
the next publish retries it.
"""

from __future__ import annotations

import logging

from ..bookkeeping.completion_marker import fingerprint, parse_marker
from ..documents.render import Rendered
from ..settings import PublishOptions
from ..targets import Target
from .plan import Plan
from .result import PublishResult
from .target_snapshot import Snapshot, headers_changed

log = logging.getLogger(__name__)


def quick_noop(
    head: Snapshot, target: Target, state_sha256: str, options: PublishOptions
) -> PublishResult | None:
    """The result of a publish to `target` with nothing to do, or None when that is not
    certain. `head` is what the target said before the state was read (its manifest,
    what is pending, the marker), `state_sha256` the state file's digest."""
    if options.dry_run or options.full_scan or options.prune_unmanaged:
        return None
    if headers_changed(head.manifest, target.headers):
        return None  # every document is put again with its new headers
    description = target.description
    found = parse_marker(head.quick)
    if found.get("state_sha256") != state_sha256 or found.get("fingerprint") != fingerprint(
        options
    ):
        return None
    manifest = head.manifest
    if head.scan_due or not manifest.intact or head.pending_purge:
        return None
    if manifest.generation != found.get("generation") or manifest.state_sha256 != state_sha256:
        return None
    documents = found.get("documents")
    if options.prune and len(manifest.documents) != documents:
        return None  # documents of keys gone from the state are left live: a prune deletes
    plan = Plan(unchanged=documents if isinstance(documents, int) else 0)
    result = PublishResult(description, False, plan, Rendered({}, {}, {}))
    log.info(
        "the state is byte for byte what generation %d published: nothing to do",
        found["generation"],
    )
    result.generation = manifest.generation
    distinct = found.get("distinct")
    result.quick = distinct if isinstance(distinct, int) else 0
    return result
