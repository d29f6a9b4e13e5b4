"""`publisher publish`: options → settings → one library call → a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import api
from ..errors import EXIT_INVALID, Problem, PublisherError, StorageError
from ..progress import Stopwatch
from ..redact import key_label, url_for_display
from ..settings import (
    DEFAULT_CACHE_CONTROL,
    DEFAULT_CONCURRENCY,
    DEFAULT_FULL_SCAN_EVERY,
    DEFAULT_INVALIDATION_THRESHOLD,
    DEFAULT_KEEP_GENERATIONS,
    DEFAULT_LOCK_TTL,
    DEFAULT_MAX_DELETES,
    DEFAULT_MAX_DOCUMENT_BYTES,
    DEFAULT_TARGET,
    CdnKind,
    CdnSettings,
    PublishOptions,
    RetryMode,
    StorageSettings,
)
from ..state.model import StoppedPolicy
from ..sync.result import PublishIncomplete, PublishResult
from .app import app, configure_logging
from .common import (
    CDN,
    S3,
    CdnOpt,
    DistributionIdOpt,
    EndpointOpt,
    ForceOpt,
    JsonOpt,
    KeepOpt,
    LockTtlOpt,
    MaxBytesOpt,
    MaxDeletesOpt,
    PolicyOpt,
    ProfileOpt,
    PurgeUrlOpt,
    RegionOpt,
    StateArg,
    TargetOpt,
    choice,
    choice_metavar,
    fail,
    say,
    say_json,
)
from .output import publish_json, publish_text
from .progress import Display, on_terminal
from .publish_report import Reporter, writable_report


@app.command(name="publish")
def publish_cmd(
    state: StateArg,
    target: TargetOpt = DEFAULT_TARGET,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            "-n",
            help="Print the plan (per key, with what changed) and change nothing.",
        ),
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Delete the documents publisher wrote for keys that are revoked or gone from "
            "the state (anything else under config/ is left: see --prune-unmanaged).",
        ),
    ] = False,
    prune_unmanaged: Annotated[
        bool,
        typer.Option(
            "--prune-unmanaged",
            help="Also delete key-named files under config/ that publisher never wrote (a "
            "migration from another tool); implies --prune, still under --max-deletes.",
        ),
    ] = False,
    max_deletes: MaxDeletesOpt = DEFAULT_MAX_DELETES,
    force: ForceOpt = False,
    stopped_policy: PolicyOpt = StoppedPolicy.winners_only,
    max_document_bytes: MaxBytesOpt = DEFAULT_MAX_DOCUMENT_BYTES,
    lock_ttl: LockTtlOpt = DEFAULT_LOCK_TTL,
    full_scan: Annotated[
        bool,
        typer.Option(
            "--full-scan",
            help="List every live document instead of planning from the manifest: repairs "
            "documents deleted or changed behind publisher's back.",
        ),
    ] = False,
    full_scan_every: Annotated[
        float,
        typer.Option(
            "--full-scan-every",
            min=0,
            help="Seconds after which a full scan runs by itself (0: every publish).",
        ),
    ] = DEFAULT_FULL_SCAN_EVERY,
    keep_generations: KeepOpt = DEFAULT_KEEP_GENERATIONS,
    list_all: Annotated[
        bool, typer.Option("--list-all", help="List every changed key, not the first 20.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log each step and how long it took.")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No progress display (it shows only on a terminal)."),
    ] = False,
    as_json: JsonOpt = False,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    cache_control: Annotated[
        str,
        typer.Option("--cache-control", help="Cache-Control of the documents.", rich_help_panel=S3),
    ] = DEFAULT_CACHE_CONTROL,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", min=1, max=256, help="Uploads in flight.", rich_help_panel=S3
        ),
    ] = DEFAULT_CONCURRENCY,
    retry_mode: Annotated[
        str,
        typer.Option(
            "--retry-mode",
            callback=choice(RetryMode),
            metavar=choice_metavar(RetryMode),
            help="botocore retry mode for throttling and 5xx (adaptive also rate-limits).",
            rich_help_panel=S3,
        ),
    ] = RetryMode.standard,
    no_lock: Annotated[
        bool,
        typer.Option(
            "--no-lock",
            help="Skip the publish lock, for stores without conditional writes. Unsafe if two "
            "publishers can run at once.",
            rich_help_panel=S3,
        ),
    ] = False,
    cdn: CdnOpt = CdnKind.none,
    distribution_id: DistributionIdOpt = None,
    invalidation_threshold: Annotated[
        int,
        typer.Option(
            "--invalidation-threshold",
            min=1,
            help="Above this many paths, invalidate one wildcard /<prefix>/config/*.",
            rich_help_panel=CDN,
        ),
    ] = DEFAULT_INVALIDATION_THRESHOLD,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for the CloudFront invalidation.", rich_help_panel=CDN),
    ] = False,
    purge_url: PurgeUrlOpt = None,
    wait_edge: Annotated[
        list[str] | None,
        typer.Option(
            "--wait-edge",
            help="After the purge, poll this edge URL until it serves every changed "
            "document; report the time (repeat for several edges).",
            rich_help_panel=CDN,
        ),
    ] = None,
    wait_timeout: Annotated[
        float,
        typer.Option(
            "--wait-timeout",
            min=1,
            max=86400,
            help="Seconds --wait-edge waits before it exits 4 (the documents stay published).",
            rich_help_panel=CDN,
        ),
    ] = 60.0,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            callback=writable_report,
            help="Also write a self-contained HTML page about this publish: stages, changes "
            "before → after, purge and webhooks; written when the publish fails too.",
        ),
    ] = None,
) -> None:
    """Render, validate and sync every document to the target.

    New and changed documents are written, unchanged ones are left alone, and those of
    revoked or removed keys are deleted only with --prune. Nothing is written unless
    every document is valid; a re-run after any failure finishes the job.

    Exit codes: 0 done · 2 usage · 3 invalid state or document, or a refused prune
    (nothing published) · 4 storage or CDN failure (safe to re-run) · 5 the target is locked.
    """
    options = PublishOptions(
        stopped_policy=StoppedPolicy(stopped_policy),
        prune=prune or prune_unmanaged,
        prune_unmanaged=prune_unmanaged,
        max_deletes=max_deletes,
        force=force,
        dry_run=dry_run,
        max_document_bytes=max_document_bytes,
        lock_ttl=lock_ttl,
        full_scan=full_scan,
        full_scan_every=full_scan_every,
        keep_generations=keep_generations,
        describe=report is not None,
    )
    storage = StorageSettings(
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        cache_control=cache_control,
        concurrency=concurrency,
        retry_mode=RetryMode(retry_mode),
        lock=not no_lock,
    )
    cdn_settings = CdnSettings(
        kind=CdnKind(cdn),
        distribution_id=distribution_id,
        invalidation_threshold=invalidation_threshold,
        wait=wait,
        purge_urls=tuple(purge_url or ()),
    )
    if verbose:
        configure_logging(True)
    pruning = prune or prune_unmanaged
    display = Display(on_terminal(quiet))
    watch = Stopwatch(display)
    with Reporter(report, target, pruning, watch) as page:
        try:
            with display:
                if no_lock:
                    say("warning: --no-lock: nothing stops two publishers at once", err=True)
                result = api.publish(
                    state, target, options, watch, storage=storage, cdn=cdn_settings,
                    wait_edges=wait_edge or (), wait_timeout=wait_timeout,
                )  # fmt: skip
        except PublishIncomplete as exc:  # the summary first, then what failed
            page.result, page.error = exc.result, exc
            _report(exc.result, pruning, list_all, as_json, exc)
            fail(exc, as_json=False)
        except PublisherError as exc:
            page.error = exc
            fail(exc, as_json)
        except KeyboardInterrupt:
            written = f"{display.uploaded:,} of {display.uploading:,} documents were written"
            say(f"interrupted: {written}; nothing was deleted; re-run to finish", err=True)
            raise typer.Exit(130) from None
        page.result = result
        _report(result, pruning, list_all, as_json, None)
        if result.refused:
            say(f"error: {result.refused}", err=True)
            raise typer.Exit(EXIT_INVALID)
        _check_edges(result, wait_timeout, page)


def _check_edges(result: PublishResult, wait_timeout: float, page: Reporter) -> None:
    """Exit 4 when an edge still served old bytes at the end of --wait-edge."""
    stale = [(w, key) for w in result.edge_waits for key in w.stale]
    if not stale:
        return
    problems = [
        Problem(key_label(key), f"still stale at {url_for_display(w.edge)}") for w, key in stale
    ]
    why = next((f" (last error: {w.error})" for w, _ in stale if w.error), "")
    page.error = StorageError(
        f"the documents are published, but {len(stale)} still served old bytes at the "
        f"edge after {wait_timeout:g} s{why}",
        problems,
    )
    fail(page.error, as_json=False)


def _report(
    result: PublishResult,
    prune: bool,
    list_all: bool,
    as_json: bool,
    error: PublishIncomplete | None,
) -> None:
    if as_json:  # one line, as every --json; the C encoder keeps 100,000 rows fast
        say_json(publish_json(result, prune=prune, error=error))
    else:
        say(publish_text(result, prune=prune, list_all=list_all, failed=error is not None))
