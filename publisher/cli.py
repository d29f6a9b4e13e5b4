"""The `publisher` command: options → library call → report; errors → exit codes."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer

from . import __version__
from .cdn import DEFAULT_INVALIDATION_THRESHOLD, make_purger
from .errors import EXIT_INVALID, PublisherError, UsageError
from .lock import DEFAULT_LOCK_TTL
from .plan import DEFAULT_MAX_DELETES
from .publish import PublishOptions, prepare, publish
from .redact import key_label
from .report import error_json, publish_json, publish_text
from .serve import DEFAULT_CACHE_CONTROL
from .targets import open_target
from .validate import DEFAULT_MAX_DOCUMENT_BYTES

app = typer.Typer(
    help=(
        "Publish A/B-experiment overrides as static JSON documents, one per API key at "
        "<target>/config/<apiKey>, to a local directory (default ./public)."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
webhooks_app = typer.Typer(
    help="Send the current documents to webhooks on demand.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
keys_app = typer.Typer(
    help="Create, list and revoke API keys in the state file.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
app.add_typer(webhooks_app, name="webhooks")


class Cdn(StrEnum):
    none = "none"
    cloudfront = "cloudfront"
    http_purge = "http-purge"


class RetryMode(StrEnum):
    standard = "standard"
    adaptive = "adaptive"


class Policy(StrEnum):
    winners_only = "winners-only"
    force_control = "force-control"


StateArg = Annotated[
    Path, typer.Argument(help="Experiment state file (.yaml, .yml or .json).", show_default=False)
]
PolicyOpt = Annotated[
    Policy,
    typer.Option(
        "--stopped-policy",
        help="Stopped experiments without a non-control winner: leave them out "
        "(winners-only) or force control for everyone (force-control).",
    ),
]
MaxBytesOpt = Annotated[
    int, typer.Option("--max-document-bytes", min=1, help="Largest document allowed, in bytes.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable result on stdout.")]
S3 = "S3 target (--target s3://...)"
CDN = "CDN purge"
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url", help="S3-compatible endpoint (R2, MinIO, moto...).", rich_help_panel=S3
    ),
]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="Bucket region.", rich_help_panel=S3)
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="AWS config profile to use.", rich_help_panel=S3)
]


def _fail(error: PublisherError, as_json: bool) -> NoReturn:
    for line in error.lines():
        typer.echo(f"error: {line}" if not line.startswith("  ") else line, err=True)
    if as_json:
        typer.echo(json.dumps(error_json(error), indent=2))
    raise typer.Exit(error.exit_code)


@contextmanager
def _errors(as_json: bool = False) -> Iterator[None]:
    try:
        yield
    except PublisherError as error:
        _fail(error, as_json)
    except KeyboardInterrupt:
        typer.echo("interrupted: nothing more was written; re-run to finish", err=True)
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"publisher {__version__}")
        raise typer.Exit()


def _configure_logging(verbose: bool) -> None:
    # Only our own loggers, to the stderr of this invocation; libraries' loggers
    # (botocore, urllib3) stay quiet.
    logger = logging.getLogger("publisher")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    _configure_logging(verbose)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example state.")] = Path(
        "experiments.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example state file to start from."""
    with _errors():
        if path.exists() and not force:
            raise UsageError(f"{path} exists: pass --force to overwrite it")
        example = files("publisher").joinpath("data/example.yaml").read_bytes()
        path.write_bytes(example)
    typer.echo(f"Wrote {path}. Next: publisher validate {path} && publisher publish {path}")


@app.command()
def validate(
    state: StateArg,
    stopped_policy: PolicyOpt = Policy.winners_only,
    max_document_bytes: MaxBytesOpt = DEFAULT_MAX_DOCUMENT_BYTES,
    as_json: JsonOpt = False,
) -> None:
    """Check the state, every document it renders and that webhook secrets are set; write
    nothing (exit 3 on a problem)."""
    with _errors(as_json):
        options = PublishOptions(
            stopped_policy=stopped_policy.value, max_document_bytes=max_document_bytes
        )
        loaded, rendered, hooks = prepare(state, options)
    summary = {
        "ok": True,
        "organizations": len(loaded.organizations),
        "documents": len(rendered.documents),
        "distinct": len(rendered.distinct()),
        "revoked": sum(1 for k in rendered.keys.values() if k.revoked),
        "webhooks": len(hooks),
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(
            f"{state}: valid: {summary['organizations']} organization(s), "
            f"{summary['documents']} document(s) ({summary['distinct']} distinct), "
            f"{summary['revoked']} revoked key(s)"
        )


@app.command()
def render(
    state: StateArg,
    key: Annotated[str, typer.Option("--key", "-k", help="The API key whose document to print.")],
    stopped_policy: PolicyOpt = Policy.winners_only,
) -> None:
    """Print the document one API key would get, exactly as it would be published."""
    with _errors():
        options = PublishOptions(stopped_policy=stopped_policy.value)
        _, rendered, _ = prepare(state, options, secrets=False)  # printing needs no secret
        doc = rendered.documents.get(key)
        if doc is None:
            info = rendered.keys.get(key)
            why = "is revoked, so it gets no document" if info else "is not in the state"
            raise UsageError(f"key {key_label(key)} {why}: see `publisher keys list {state}`")
    sys.stdout.buffer.write(doc.body + b"\n")
    sys.stdout.flush()


@app.command(name="publish")
def publish_cmd(
    state: StateArg,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="A directory, or s3://bucket[/prefix]; documents go to <target>/config/<key>.",
        ),
    ] = "./public",
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
            "--prune", help="Delete documents of keys that are revoked or gone from the state."
        ),
    ] = False,
    max_deletes: Annotated[
        int,
        typer.Option(
            "--max-deletes", min=0, help="With --prune: refuse to delete more than this many."
        ),
    ] = DEFAULT_MAX_DELETES,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="With --prune: allow more than --max-deletes, or over half the live documents.",
        ),
    ] = False,
    stopped_policy: PolicyOpt = Policy.winners_only,
    max_document_bytes: MaxBytesOpt = DEFAULT_MAX_DOCUMENT_BYTES,
    lock_ttl: Annotated[
        float,
        typer.Option(
            "--lock-ttl", min=10, help="Seconds until a crashed publisher's lock may be taken over."
        ),
    ] = DEFAULT_LOCK_TTL,
    verbose: Annotated[
        bool, typer.Option("--list-all", help="List every changed key, not the first 20.")
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
    ] = 32,
    retry_mode: Annotated[
        RetryMode,
        typer.Option(
            "--retry-mode",
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
    cdn: Annotated[
        Cdn, typer.Option("--cdn", help="Purge changed paths from this CDN.", rich_help_panel=CDN)
    ] = Cdn.none,
    distribution_id: Annotated[
        str | None,
        typer.Option("--distribution-id", help="CloudFront distribution id.", rich_help_panel=CDN),
    ] = None,
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
    purge_url: Annotated[
        list[str] | None,
        typer.Option(
            "--purge-url",
            help="Edge base URL for --cdn http-purge (repeat for several edges).",
            rich_help_panel=CDN,
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
        stopped_policy=stopped_policy.value,
        prune=prune,
        max_deletes=max_deletes,
        force=force,
        dry_run=dry_run,
        max_document_bytes=max_document_bytes,
        lock_ttl=lock_ttl,
    )
    with _errors(as_json), _progress(enabled=not as_json) as progress:
        if no_lock:
            typer.echo("warning: --no-lock: nothing stops two publishers at once", err=True)
        tgt = open_target(
            target,
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            cache_control=cache_control,
            concurrency=concurrency,
            lock=not no_lock,
            retry_mode=retry_mode.value,
        )
        purger = make_purger(
            cdn.value,
            tgt,
            region,
            profile,
            distribution_id,
            invalidation_threshold,
            wait,
            purge_url or [],
        )
        result = publish(state, tgt, options, progress=progress, purger=purger)
    if as_json:
        typer.echo(json.dumps(publish_json(result), separators=(",", ":")))  # C encoder: 100k rows
    else:
        typer.echo(publish_text(result, prune=prune, verbose=verbose))
    if result.refused:
        typer.echo(f"error: {result.refused}", err=True)
        raise typer.Exit(EXIT_INVALID)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    bars: list[Any] = []
    shown = [0]

    def update(done: int, total: int) -> None:
        if total < 200:
            return
        if not bars:
            bars.append(
                typer.progressbar(length=total, label="Uploading", file=sys.stderr).__enter__()
            )
        bars[0].update(done - shown[0])
        shown[0] = done

    try:
        yield update
    finally:
        if bars:
            bars[0].__exit__(None, None, None)


from . import cli_admin, cli_servers  # noqa: E402,F401  (they add their commands to `app`)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # runs the finally blocks that release the lock


def main() -> None:
    """Run the CLI (the `publisher` console script)."""
    signal.signal(signal.SIGTERM, _terminate)
    app()
