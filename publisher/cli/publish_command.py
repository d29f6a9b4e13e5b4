"""`publisher publish`: options → settings → one library call → a report."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import typer

from .. import api
from ..errors import EXIT_INVALID, EXIT_USAGE, PublisherError
from ..progress import Stopwatch
from ..publishing.result import PublishIncomplete, PublishRefused
from ..settings import (
    DEFAULT_CACHE_CONTROL,
    DEFAULT_FULL_SCAN_EVERY,
    DEFAULT_INVALIDATION_THRESHOLD,
    DEFAULT_KEEP_GENERATIONS,
    DEFAULT_LOCK_TTL,
    DEFAULT_MAX_DELETES,
    DEFAULT_MAX_DOCUMENT_BYTES,
    CdnSettings,
    PublishOptions,
    RetryMode,
    StorageSettings,
    UploadClient,
)
from ..state.model import StoppedPolicy
from .app import GLOBAL, ConfigOpt, app
from .common import (
    CDN,
    S3,
    CdnOpt,
    DistributionIdOpt,
    EdgePrefixOpt,
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
    StateOrConfigArg,
    TargetOpt,
    choice,
    choice_metavar,
    errors,
    fail,
    header_value,
    publish_options,
    resolve_settings,
    say,
)
from .output import EXIT_PENDING, pending_changes, stale_edges
from .progress_display import Display, on_terminal
from .report_page import Reporter, print_result, report_path


@app.command(name="publish")
def publish_cmd(
    state: StateOrConfigArg = None,
    target: TargetOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            "-n",
            help="Print the plan (per key, with what changed) and change nothing.",
        ),
    ] = False,
    prune: Annotated[
        bool | None,
        typer.Option(
            "--prune/--no-prune",
            help="Delete the documents publisher wrote for keys that are revoked or gone from "
            "the state (anything else under config/ is left: see --prune-unmanaged) "
            "[default: PUBLISHER_PRUNE, the target's prune in the project file, else no].",
            show_default=False,
        ),
    ] = None,
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
    as_json: JsonOpt = False,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    cache_control: Annotated[
        str | None,
        typer.Option(
            "--cache-control",
            callback=header_value,
            help="Cache-Control of the documents [default: PUBLISHER_CACHE_CONTROL, the "
            f"target's in the project file, else {DEFAULT_CACHE_CONTROL}].",
            rich_help_panel=S3,
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            max=512,
            help="Uploads in flight [default: from the store's round trip: 32 near, 480 at 30 ms].",
            rich_help_panel=S3,
        ),
    ] = None,
    upload_client: Annotated[
        str,
        typer.Option(
            "--upload-client",
            callback=choice(UploadClient),
            metavar=choice_metavar(UploadClient),
            help="Who sends the document PUTs: obstore in native code, or botocore's threads.",
            rich_help_panel=S3,
        ),
    ] = UploadClient.native,
    retry_mode: Annotated[
        str | None,
        typer.Option(
            "--retry-mode",
            callback=choice(RetryMode),
            metavar=choice_metavar(RetryMode),
            help="Retry mode for throttling and 5xx (adaptive also rate-limits, and sends the "
            "documents through botocore) [default: AWS_RETRY_MODE or the profile's "
            "retry_mode, else standard].",
            rich_help_panel=S3,
        ),
    ] = None,
    no_lock: Annotated[
        bool,
        typer.Option(
            "--no-lock",
            help="Skip the publish lock, for stores without conditional writes. Unsafe if two "
            "publishers can run at once.",
            rich_help_panel=S3,
        ),
    ] = False,
    cdn: CdnOpt = None,
    distribution_id: DistributionIdOpt = None,
    invalidation_threshold: Annotated[
        int,
        typer.Option(
            "--invalidation-threshold",
            min=1,
            help="Above this many paths, invalidate one wildcard <edge prefix>/config/*.",
            rich_help_panel=CDN,
        ),
    ] = DEFAULT_INVALIDATION_THRESHOLD,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for the CloudFront invalidation.", rich_help_panel=CDN),
    ] = False,
    purge_url: PurgeUrlOpt = None,
    edge_path_prefix: EdgePrefixOpt = None,
    ignore_pending_purge: Annotated[
        bool,
        typer.Option(
            "--ignore-pending-purge",
            help="Publish without the CDN although a purge of an earlier publish is pending "
            "(it stays pending); without it, that is exit 4 before anything is written.",
            rich_help_panel=CDN,
        ),
    ] = False,
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
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code",
            help="With --dry-run: exit 1 when a document would be put or (with --prune) "
            "deleted, 0 when nothing would change (as git diff --exit-code).",
        ),
    ] = False,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            metavar="FILE",
            help="Also write the plan (with --dry-run) or the outcome as Markdown, for a pull "
            "request comment or a CI summary: per organization and experiment, before → "
            "after, keys by label; written when the publish fails too.",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write a self-contained HTML page about this publish: stages, changes "
            "before → after, purge and webhooks; written when the publish fails too.",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Render, validate and sync every document to the target.

    New and changed documents are written, unchanged ones are left alone, and those of
    revoked or removed keys are deleted only with --prune. Nothing is written unless
    every document is valid; a re-run after any failure finishes the job.

    Exit codes: 0 done · 1 changes pending (--dry-run --exit-code) · 2 usage · 3 invalid
    state or document, or a refused prune (nothing published) · 4 storage or CDN failure
    (safe to re-run) · 5 the target is locked.
    """
    if exit_code and not dry_run:
        say("error: --exit-code applies to a dry run: add --dry-run", err=True)
        raise typer.Exit(EXIT_USAGE)
    with errors(as_json):
        resolved = resolve_settings(
            state=state,
            target=target,
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            cache_control=cache_control,
            cdn=cdn,
            distribution_id=distribution_id,
            purge_urls=purge_url,
            edge_path_prefix=edge_path_prefix,
            prune=prune,
        )
        where, state = resolved.require_target(), resolved.state()
    options = publish_options(
        stopped_policy,
        prune=where.prune or prune_unmanaged,
        prune_unmanaged=prune_unmanaged,
        max_deletes=max_deletes,
        force=force,
        dry_run=dry_run,
        max_document_bytes=max_document_bytes,
        lock_ttl=lock_ttl,
        full_scan=full_scan,
        full_scan_every=full_scan_every,
        keep_generations=keep_generations,
        ignore_pending_purge=ignore_pending_purge,
        describe=True,  # what changed, per experiment, in the output (a few reads of history)
    )
    storage = replace(
        where.storage,
        concurrency=concurrency,
        retry_mode=None if retry_mode is None else RetryMode(retry_mode),
        lock=not no_lock,
        upload_client=UploadClient(upload_client),
    )
    cdn_settings = replace(
        where.cdn,
        invalidation_threshold=invalidation_threshold,
        wait=wait,
        wait_edges=tuple(wait_edge or ()),
        wait_timeout=wait_timeout,
    )
    shown = _Shown(GLOBAL.quiet, as_json, list_all, no_lock, exit_code)
    _publish(state, where.url, (options, storage, cdn_settings), shown, (report, markdown))


@dataclass(frozen=True)
class _Shown:
    """How a publish is shown: progress on a terminal, JSON, every key, a warning, and
    whether pending changes make the exit code 1."""

    quiet: bool
    as_json: bool
    list_all: bool
    no_lock: bool
    exit_code: bool = False


def _publish(
    state: Path,
    target: str,
    settings: tuple[PublishOptions, StorageSettings, CdnSettings],
    shown: _Shown,
    pages: tuple[Path | None, Path | None],
) -> None:
    """Publish with progress on a terminal; print the summary (text or JSON); write the
    report page and the Markdown however it ends; turn every failure into its exit code."""
    options, storage, cdn = settings
    as_json, pruning = shown.as_json, options.prune
    with errors(as_json):
        report, markdown = (report_path(page, state, target) for page in pages)
    display = Display(on_terminal(shown.quiet))
    watch = Stopwatch(display)
    with Reporter((report, markdown), target, pruning, watch) as page:
        try:
            with display:
                if shown.no_lock:
                    say("warning: --no-lock: nothing stops two publishers at once", err=True)
                result = api.publish(state, target, options, watch, storage=storage, cdn=cdn)
        except (PublishIncomplete, PublishRefused) as exc:  # the summary, then what failed
            page.result, page.error = exc.result, exc
            print_result(exc.result, pruning, shown.list_all, as_json, exc)
            fail(exc, as_json=False)
        except PublisherError as exc:
            page.error = exc
            fail(exc, as_json)
        except KeyboardInterrupt:
            written = (
                f"{display.uploaded:,} of {display.uploading:,} documents were written"
                if display.uploading
                else "before the uploads, no document was written"
            )
            say(f"interrupted: {written}; nothing was deleted; re-run to finish", err=True)
            raise typer.Exit(130) from None
        page.result = result
        pending = shown.exit_code and pending_changes(result, pruning)
        print_result(result, pruning, shown.list_all, as_json, None, pending)
        if result.refused:
            say(f"error: {result.refused}", err=True)
            raise typer.Exit(EXIT_INVALID)
        page.error = stale_edges(result, cdn.wait_timeout)
        if page.error is not None:
            fail(page.error, as_json=False)
    if pending:  # after the pages are written: the dry run itself succeeded
        raise typer.Exit(EXIT_PENDING)
