"""The housekeeping commands: prepare a bucket, send webhooks, manage keys."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import api
from ..documents.render import render_documents
from ..errors import StorageError, UsageError
from ..redact import key_label, plural
from ..state import load_state
from ..state.keys import create_key, list_keys, revoke_key
from ..state.model import StoppedPolicy
from .app import ConfigOpt, app, keys_app, webhooks_app
from .common import (
    EndpointOpt,
    JsonOpt,
    PolicyOpt,
    ProfileOpt,
    RegionOpt,
    StateArg,
    errors,
    publish_options,
    resolve_settings,
    say,
    say_json,
)
from .output import describe_key


@app.command("init-bucket")
def init_bucket(
    url: Annotated[
        str | None,
        typer.Argument(
            help="s3://bucket[/prefix] to prepare, or a target of the project file [default: "
            "PUBLISHER_TARGET, else the project file's default_target].",
            show_default=False,
        ),
    ] = None,
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
    disable_block_public_access: Annotated[
        bool,
        typer.Option(
            "--disable-block-public-access",
            help="With --public-read on AWS: turn off BlockPublicPolicy and "
            "RestrictPublicBuckets for this bucket only, so the public policy is accepted. "
            "Prefer CloudFront with origin access control and a private bucket.",
        ),
    ] = False,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Prepare a bucket: create it (--create), allow GET/HEAD from any origin (CORS), and
    warn if anyone may list it (a public listing leaks every API key)."""
    from ..targets.init_bucket import prepare_bucket

    with errors():
        where = resolve_settings(
            None, target=url, endpoint_url=endpoint_url, region=region, profile=profile
        ).target
        if where is None:
            raise UsageError(
                "give the bucket to prepare (s3://bucket[/prefix]), or a default_target in "
                "publisher.toml"
            )
        report = prepare_bucket(
            where.url,
            where.storage,
            create=create,
            public_read=public_read,
            allow_public_policy=disable_block_public_access,
        )
    for line in report.lines:
        say(line)
    for warning in report.warnings:
        say(f"warning: {warning}", err=True)


@webhooks_app.command("send")
def webhooks_send(
    state: StateArg,
    org: Annotated[str, typer.Option("--org", help="Organization whose webhooks to send to.")],
    project: Annotated[
        str | None, typer.Option("--project", help="Only the webhooks of this project.")
    ] = None,
    stopped_policy: PolicyOpt = StoppedPolicy.winners_only,
) -> None:
    """Send the current document to an organization's webhooks now (to test a receiver)."""
    with errors():
        options = publish_options(stopped_policy)
        delivery = api.send_webhooks(state, org, project, options)
        for label in delivery.delivered:
            say(f"{label}: delivered")
        for label, why in delivery.failed.items():
            say(f"{label}: failed: {why}")
        if delivery.failed:
            total = len(delivery.delivered) + len(delivery.failed)
            raise StorageError(
                f"{len(delivery.failed)} of {total} {plural(total, 'webhook')} failed"
            )


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
    with errors():
        key = create_key(state, org, description, project)
    typer.echo(key)  # the one place a new key is shown: it is what was asked for
    say(f"Added to organization {org} in {state}; publish to make its document live.", err=True)


@keys_app.command("list")
def keys_list(
    state: StateArg,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show whole keys instead of labels.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the keys of the state: organization, label, project, description, revoked."""
    with errors(as_json):
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
        say_json(out, reveal=reveal)
        return
    table = [("ORG", "KEY", "PROJECT", "REVOKED", "DESCRIPTION")]
    table += [
        (
            r.org,
            r.key if reveal else key_label(r.key),
            r.project or "-",
            "yes" if r.revoked else "no",
            r.description or "",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        say("  ".join([*cells, row[4]]).rstrip(), reveal=reveal)


@keys_app.command("revoke")
def keys_revoke(
    state: StateArg,
    key: Annotated[str, typer.Argument(help="The API key to revoke.", show_default=False)],
) -> None:
    """Mark a key revoked; `publisher publish --prune` then deletes its document."""
    with errors():
        changed = revoke_key(state, key)
        info = render_documents(load_state(state)).keys.get(key)
    if not changed:
        say(f"{describe_key(key, info)} was already revoked in {state}; nothing changed")
        return
    say(
        f"Revoked {describe_key(key, info)} in {state}; run publish --prune to delete its document."
    )
