"""`publisher rollback`: make what was live at a generation live again, without its state."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .. import api
from ..errors import EXIT_INVALID, EXIT_STORAGE, Problem, StorageError
from ..operations.rollback import RollbackResult
from ..redact import key_label, plural
from ..settings import (
    DEFAULT_KEEP_GENERATIONS,
    DEFAULT_LOCK_TTL,
    DEFAULT_MAX_DELETES,
    PublishOptions,
)
from .app import ConfigOpt, app
from .common import (
    CdnOpt,
    DistributionIdOpt,
    EdgePrefixOpt,
    EndpointOpt,
    ForceOpt,
    JsonOpt,
    KeepOpt,
    LockTtlOpt,
    MaxDeletesOpt,
    ProfileOpt,
    PurgeUrlOpt,
    RegionOpt,
    TargetOpt,
    errors,
    fail,
    resolve_settings,
    say,
    say_json,
)
from .output import MAX_LISTED


@app.command()
def rollback(
    to: Annotated[int, typer.Option("--to", min=1, help="The generation to make live again.")],
    target: TargetOpt = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="A state file naming keys whose documents were deleted since (their keys "
            "are kept nowhere else); its webhooks are pushed the scopes put back.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Print what would change; change nothing.")
    ] = False,
    max_deletes: MaxDeletesOpt = DEFAULT_MAX_DELETES,
    force: ForceOpt = False,
    lock_ttl: LockTtlOpt = DEFAULT_LOCK_TTL,
    keep_generations: KeepOpt = DEFAULT_KEEP_GENERATIONS,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    cdn: CdnOpt = None,
    distribution_id: DistributionIdOpt = None,
    purge_url: PurgeUrlOpt = None,
    edge_path_prefix: EdgePrefixOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Make what is live exactly what was live at generation --to, without its state.

    Puts back the documents that differ, deletes those of keys the generation did not
    have (under --max-deletes and the half guard, as --prune), records a generation of
    kind rollback and purges the CDN. A document deleted since can be put back only if
    its key is known: live, or in --state; those that cannot are named and the exit
    code is 4. A rollback cut short converges when run again. Documents are put back
    with the headers the others are stored with (the manifest's), whatever
    --cache-control the target's settings give.
    """
    options = PublishOptions(
        max_deletes=max_deletes,
        force=force,
        dry_run=dry_run,
        lock_ttl=lock_ttl,
        keep_generations=keep_generations,
    )
    with errors(as_json):
        where = resolve_settings(
            target=target,
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            cdn=cdn,
            distribution_id=distribution_id,
            purge_urls=purge_url,
            edge_path_prefix=edge_path_prefix,
        ).require_target()
        result = api.rollback(
            to, where.url, options, state=state, storage=where.storage, cdn=where.cdn
        )
    if as_json:
        say_json(_rollback_json(result))
    else:
        say(_rollback_text(result))
    if result.refused is not None:
        say(f"error: this rollback would be refused: {result.refused}", err=True)
        raise typer.Exit(EXIT_INVALID)
    if result.purge_error is not None:
        fail(result.purge_error, as_json=False)
    if result.webhooks.failed:
        problems = [Problem(label, why) for label, why in sorted(result.webhooks.failed.items())]
        fail(StorageError("rolled back, but webhook deliveries failed", problems), as_json=False)
    if result.unrestorable:  # a dry run says it as the run would
        count = len(result.unrestorable)
        could = "would not be" if dry_run else "could not be"
        fail(
            StorageError(
                f"{count} {plural(count, 'document')} of generation {to} {could} put "
                "back: the key is not live and not in --state",
                [Problem(label, "key unknown") for label in result.unrestorable],
            ),
            as_json=False,
        )


def _rollback_json(result: RollbackResult) -> dict[str, Any]:
    plan = result.plan
    failed = result.purge_error or result.webhooks.failed or result.unrestorable
    code = EXIT_INVALID if result.refused else EXIT_STORAGE if failed else 0
    return {
        "ok": code == 0,
        "exit_code": code,
        "to": result.to,
        "dry_run": result.dry_run,
        "generation": result.generation,
        "put_back": [key_label(p.key) for p in plan.puts],
        "deleted": [key_label(k) for k in plan.deletes],
        "kept": [key_label(k) for k in plan.unmanaged],
        "unchanged": plan.unchanged,
        "unrestorable": result.unrestorable,
        "purged": len(result.purged),
        "webhooks": {"delivered": result.webhooks.delivered, "failed": result.webhooks.failed},
        "refused": result.refused,
    }


def _rollback_text(result: RollbackResult) -> str:
    plan = result.plan
    did = "would put back" if result.dry_run else "put back"
    gone = "would delete" if result.dry_run else "deleted"
    head = (
        f"Rollback of {result.target} to generation {result.to}"
        f"{' (dry run)' if result.dry_run else ''}: {did} {len(plan.puts):,}, "
        f"{gone} {len(plan.deletes):,}, {plan.unchanged:,} already as they were"
    )
    lines = [head]
    since = {"added": "deleted since", "changed": "changed since"}
    lines += [f"  ↺ {key_label(p.key)}: {since[p.reason]}" for p in plan.puts[:MAX_LISTED]]
    lines += [
        f"  ! {key_label(k)}: revoked in the state, and live again (it was at generation "
        f"{result.to}): publish with --prune to delete it"
        for k in result.revived
    ]
    lines += [
        f"  - {key_label(k)}: not in generation {result.to}" for k in plan.deletes[:MAX_LISTED]
    ]
    lines += [
        f"  = {key_label(k)}: not in generation {result.to}, but changed since publisher "
        "wrote it: left in place"
        for k in plan.unmanaged[:MAX_LISTED]
    ]
    lines += [f"  ? {label}: key unknown, not put back" for label in result.unrestorable]
    if result.recorded:
        lines.append(f"Generation {result.generation} recorded (kind rollback)")
        lines.append(
            "Fix the state before the next publish: publishing it as it is puts the "
            "rolled-back change live again"
        )
    elif not result.dry_run:
        lines.append(f"Nothing changed: generation {result.generation} stays live")
    for label in result.webhooks.delivered:
        lines.append(f"Webhook {label}: delivered")
    for label, why in sorted(result.webhooks.failed.items()):
        lines.append(f"Webhook {label}: failed ({why})")
    if result.purged:
        lines.append(
            f"Purged {len(result.purged):,} {plural(len(result.purged), 'path')} from the CDN"
        )
    return "\n".join(lines)
