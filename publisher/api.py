"""The library's entry points: each does what one command does, and never prints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .bookkeeping.history import Generation, generations
from .bookkeeping.manifest import MANIFEST, parse_manifest
from .delivery.cdn import Purger
from .delivery.edge_wait import EdgeWait, wait_for_edges
from .delivery.purge import make_purger
from .delivery.sender import Sender
from .delivery.webhooks import Delivery, send_now
from .errors import UsageError
from .fetch import check_base_url
from .operations.rollback import RollbackResult
from .operations.rollback import rollback as rollback_target
from .operations.verify import VerifyResult
from .operations.verify import verify as verify_target
from .progress import Progress, Silent
from .publishing.load_and_render import Prepared, prepare
from .publishing.result import PublishIncomplete, PublishResult
from .publishing.run import PublishRun
from .settings import DEFAULT_TARGET, CdnSettings, EdgePaths, PublishOptions, StorageSettings
from .state import State, load_state
from .targets import Target, open_target


def publish(
    state: State | str | Path,
    target: Target | str | Path = DEFAULT_TARGET,
    options: PublishOptions | None = None,
    progress: Progress | None = None,
    *,
    storage: StorageSettings | None = None,
    cdn: CdnSettings | Purger | None = None,
    sender: Sender | None = None,
) -> PublishResult:
    """Publish `state` to `target` (a directory, `s3://bucket/prefix`, or a Target).

    `storage` says how to reach and write an S3 target, `cdn` which CDN to purge (or is
    a purger of your own). With `cdn.wait_edges`, each edge is polled until it serves
    every changed document (`result.edge_waits`), for at most `cdn.wait_timeout`
    seconds. Raises a PublisherError whose `exit_code` is the CLI's.
    """
    options = options or PublishOptions()
    settings = cdn if isinstance(cdn, CdnSettings) else CdnSettings()
    for edge in settings.wait_edges:
        check_base_url(edge, "--wait-edge")
    if isinstance(target, str | Path):
        target = open_target(str(target), storage)
    purger = make_purger(cdn, target, storage) if isinstance(cdn, CdnSettings) else cdn
    run = PublishRun(target, options, progress or Silent(), purger, sender or Sender())
    try:
        result = run.publish(state)
    except PublishIncomplete as exc:
        done = exc.result
        if settings.wait_edges and (done.purge_error is not None or done.webhooks.failed):
            done.edge_waits = _wait_for_edges(done, settings)  # live: what the edges serve
        raise
    if settings.wait_edges and not result.dry_run:
        result.edge_waits = _wait_for_edges(result, settings)
    return result


def _wait_for_edges(result: PublishResult, cdn: CdnSettings) -> list[EdgeWait]:
    """Poll each edge until it serves what this publish put and deleted."""
    edges = cdn.edge_paths
    expected: dict[str, tuple[str, bytes | None]] = {
        p.key: (edges.path(p.key), p.document.body) for p in result.plan.puts
    }
    expected.update((k, (edges.path(k), None)) for k in result.deleted)
    return wait_for_edges(cdn.wait_edges, expected, cdn.wait_timeout)


def check(state: State | str | Path, options: PublishOptions | None = None) -> Prepared:
    """Load, render and validate `state` and read its webhook secrets; write nothing."""
    return prepare(state, options or PublishOptions())


def send_webhooks(
    state: State | str | Path,
    org: str,
    project: str | None = None,
    options: PublishOptions | None = None,
    sender: Sender | None = None,
) -> Delivery:
    """Push the current document to the webhooks of `org` (and `project`) now."""
    prepared = prepare(state, options or PublishOptions())
    chosen = [
        h for h in prepared.hooks if h.org == org and (project is None or h.project == project)
    ]
    if not chosen:
        raise UsageError(
            f"no webhook of organization {org!r}{' in that project' if project else ''}"
        )
    return send_now(prepared.rendered, chosen, sender)


def verify(
    state: State | str | Path,
    target: Target | str | Path = DEFAULT_TARGET,
    options: PublishOptions | None = None,
    *,
    storage: StorageSettings | None = None,
    edges: Sequence[str] = (),
    sample: int | None = None,
    edge_paths: EdgePaths | None = None,
) -> VerifyResult:
    """Compare what `state` renders with what is live at `target` and at each edge URL
    (every document, or a random `sample` of them, at `edge_paths`); write nothing."""
    for edge in edges:
        check_base_url(edge, "--edge")
    if sample is not None and not edges:
        raise UsageError("--sample N applies to --edge: give an edge URL to sample from")
    if isinstance(target, str | Path):
        target = open_target(str(target), storage)
    paths = edge_paths or EdgePaths()
    return verify_target(state, target, options, edges=edges, sample=sample, edge_paths=paths)


def history(
    target: Target | str | Path = DEFAULT_TARGET,
    *,
    storage: StorageSettings | None = None,
    limit: int = 20,
) -> list[Generation]:
    """The newest `limit` generations published to `target`, newest first."""
    if isinstance(target, str | Path):
        target = open_target(str(target), storage)
    manifest = parse_manifest(target.read_meta(MANIFEST))
    return generations(target, manifest, limit)


def rollback(
    to: int,
    target: Target | str | Path = DEFAULT_TARGET,
    options: PublishOptions | None = None,
    *,
    state: State | str | Path | None = None,
    storage: StorageSettings | None = None,
    cdn: CdnSettings | None = None,
    progress: Progress | None = None,
) -> RollbackResult:
    """Make what is live at `target` exactly what was live at generation `to`, from the
    kept history; `state` names keys whose documents were deleted since."""
    options = options or PublishOptions()
    if isinstance(target, str | Path):
        target = open_target(str(target), storage)
    purger = make_purger(cdn, target, storage) if cdn is not None else None
    loaded = load_state(state) if isinstance(state, str | Path) else state
    return rollback_target(target, to, options, state=loaded, purger=purger, progress=progress)
