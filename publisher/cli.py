"""The `publisher` command: options → library call → report; errors → exit codes."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
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
from .errors import EXIT_INVALID, PublisherError, StorageError, UsageError
from .keys import create_key, list_keys, revoke_key
from .lock import DEFAULT_LOCK_TTL
from .plan import DEFAULT_MAX_DELETES
from .publish import PublishOptions, prepare, publish
from .redact import key_label
from .render import render_documents
from .report import describe_key, error_json, publish_json, publish_text
from .serve import DEFAULT_CACHE_CONTROL, make_server
from .state import load_state
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
    """Check the state and every document it renders; write nothing (exit 3 on a problem)."""
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
        _, rendered, _ = prepare(state, PublishOptions(stopped_policy=stopped_policy.value))
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


@app.command()
def serve(
    directory: Annotated[
        Path, typer.Argument(help="A directory target (the --target of publish).")
    ] = Path("./public"),
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on.")
    ] = 3100,
    cache_control: Annotated[
        str, typer.Option("--cache-control", help="Cache-Control header of the documents.")
    ] = DEFAULT_CACHE_CONTROL,
) -> None:
    """Serve GET|HEAD /config/<key> from a published directory, as the self-hosted API did."""
    with _errors():
        if not (directory / "config").is_dir():
            raise UsageError(
                f"{directory}/config is not a directory: run `publisher publish` first"
            )
        try:
            server = make_server(directory, host, port, cache_control)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    typer.echo(
        f"Serving {directory}/config at http://{host}:{server.server_port}/config/<key> "
        "(Ctrl-C stops)",
        err=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@app.command("init-bucket")
def init_bucket(
    url: Annotated[
        str, typer.Argument(help="s3://bucket[/prefix] to prepare.", show_default=False)
    ],
    create: Annotated[
        bool, typer.Option("--create", help="Create the bucket if it is missing.")
    ] = False,
    public_read: Annotated[
        bool,
        typer.Option(
            "--public-read",
            help="Set a bucket policy letting anyone GET <prefix>/config/* (never list). For "
            "stores served without an origin identity; replaces the bucket policy.",
        ),
    ] = False,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Prepare a bucket: create it (--create), allow GET/HEAD from any origin (CORS), and
    warn if anyone may list it (a public listing leaks every API key)."""
    from .aws import AwsOptions
    from .bucket import prepare_bucket

    with _errors():
        report = prepare_bucket(
            url,
            AwsOptions(endpoint_url=endpoint_url, region=region, profile=profile),
            create=create,
            public_read=public_read,
        )
    for line in report.lines:
        typer.echo(line)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)


@app.command()
def pull(
    url: Annotated[str, typer.Argument(help="The document URL: https://cdn.example/config/<key>.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to keep current.")],
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait.")] = 10,
    max_stale: Annotated[
        float | None,
        typer.Option(
            "--max-stale",
            min=0,
            help="Tolerate a failed fetch (exit 0, a warning) while the last good copy was "
            "confirmed less than this many seconds ago; fail once it is older.",
        ),
    ] = None,
) -> None:
    """Refresh FILE from the CDN, for a cronjob: a conditional GET with the saved ETag.

    304 leaves FILE alone; 200 is validated, then replaces FILE atomically. On any
    failure FILE keeps the last good document. Exit codes: 0 done, 3 invalid
    document, 4 unreachable or an HTTP error.
    """
    from .pull import pull as pull_document

    with _errors():
        result = pull_document(url, out, timeout=timeout, max_stale=max_stale)
    if result.warning:
        typer.echo(f"warning: {result.warning}", err=True)
    elif result.status == 304:
        typer.echo(f"{out}: not modified")
    else:
        typer.echo(f"{out}: {'updated' if result.changed else 'unchanged'}")


@app.command()
def receive(
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to keep current.")],
    secret_env: Annotated[
        str, typer.Option("--secret-env", help="Environment variable holding the signing secret.")
    ],
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port.")] = 3200,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Accept signed webhook pushes and keep FILE current (the push side of pull).

    Verifies X-GrowthBook-Signature or the Standard Webhooks headers in constant time,
    rejects a timestamp more than 5 minutes off, validates the overrides and replaces
    FILE atomically: 401 bad signature, 400 bad body, 413 too large.
    """
    from .receive import ReceiveServer

    with _errors():
        secret = os.environ.get(secret_env)
        if not secret:
            raise UsageError(f"--secret-env {secret_env}: the variable is not set")
        try:
            server = ReceiveServer(host, port, secret, out)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    typer.echo(
        f"Receiving at http://{host}:{server.server_port}/ into {out} (Ctrl-C stops)", err=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@webhooks_app.command("send")
def webhooks_send(
    state: StateArg,
    org: Annotated[str, typer.Option("--org", help="Organization whose webhooks to send to.")],
    project: Annotated[
        str | None, typer.Option("--project", help="Only the webhooks of this project.")
    ] = None,
    stopped_policy: PolicyOpt = Policy.winners_only,
) -> None:
    """Send the current document to an organization's webhooks now (to test a receiver)."""
    from .webhooks import Sender, payload

    with _errors():
        _, rendered, hooks = prepare(state, PublishOptions(stopped_policy=stopped_policy.value))
        chosen = [h for h in hooks if h.org == org and (project is None or h.project == project)]
        if not chosen:
            raise UsageError(
                f"no webhook of organization {org!r}{' in that project' if project else ''}"
            )
        stamp = int(time.time())
        jobs = [(h, payload(rendered.scopes[(h.org, h.project)], stamp)) for h in chosen]
        failed = Sender().send_all(jobs)
        for hook in chosen:
            status = f"failed: {failed[hook.id]}" if hook.id in failed else "delivered"
            typer.echo(f"{hook.label}: {status}")
        if failed:
            raise StorageError(f"{len(failed)} of {len(chosen)} webhook(s) failed")


@keys_app.command("create")
def keys_create(
    state: StateArg,
    org: Annotated[str, typer.Option("--org", help="Organization id to add the key to.")],
    description: Annotated[
        str | None, typer.Option("--description", help="What the key is for.")
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", help="Limit the key's document to this project.")
    ] = None,
) -> None:
    """Generate a key (key_ + 32 hex digits), add it to the state file, print it."""
    with _errors():
        key = create_key(state, org, description, project)
    typer.echo(key)
    typer.echo(
        f"Added to organization {org} in {state}; publish to make its document live.", err=True
    )


@keys_app.command("list")
def keys_list(
    state: StateArg,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show whole keys instead of labels.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the keys of the state: organization, label, project, description, revoked."""
    with _errors(as_json):
        rows = list_keys(state)
    if as_json:
        out = [
            {
                "org": r.org,
                "key" if reveal else "key_label": r.key if reveal else key_label(r.key),
                "project": r.project,
                "description": r.description,
                "revoked": r.revoked,
            }
            for r in rows
        ]
        typer.echo(json.dumps(out, indent=2))
        return
    for r in rows:
        shown = r.key if reveal else key_label(r.key)
        flags = " ".join(
            f
            for f in (f"project={r.project}" if r.project else "", "REVOKED" if r.revoked else "")
            if f
        )
        typer.echo("\t".join([r.org, shown, flags, r.description or ""]).rstrip())


@keys_app.command("revoke")
def keys_revoke(
    state: StateArg,
    key: Annotated[str, typer.Argument(help="The API key to revoke.", show_default=False)],
) -> None:
    """Mark a key revoked; `publisher publish --prune` then deletes its document."""
    with _errors():
        revoke_key(state, key)
        info = render_documents(load_state(state)).keys.get(key)
    typer.echo(
        f"Revoked {describe_key(key, info)} in {state}; run publish --prune to delete its document."
    )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # runs the finally blocks that release the lock


def main() -> None:
    """Run the CLI (the `publisher` console script)."""
    signal.signal(signal.SIGTERM, _terminate)
    app()
