"""The commands that watch what is live: verify and history (rollback: rollback_command.py)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import typer

from .. import api
from ..bookkeeping.history import Generation
from ..operations.verify import VerifyResult
from ..redact import key_label, plural
from ..state.model import StoppedPolicy
from .app import ConfigOpt, app
from .common import (
    EdgePrefixOpt,
    EndpointOpt,
    JsonOpt,
    PolicyOpt,
    ProfileOpt,
    RegionOpt,
    StateOrConfigArg,
    TargetOpt,
    errors,
    publish_options,
    resolve_settings,
    say,
    say_json,
)
from .output import describe_key

EXIT_DRIFT = 1


@app.command()
def verify(
    state: StateOrConfigArg = None,
    target: TargetOpt = None,
    edge: Annotated[
        list[str] | None,
        typer.Option(
            "--edge",
            help="A CDN or cache URL serving <URL>[<edge prefix>]/config/<key>: compare what "
            "it serves too (repeat for several edges) [default: PUBLISHER_EDGE_URLS, the "
            "target's edge_urls in the project file, else none].",
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample", min=1, help="Fetch only N documents, chosen at random, from each edge."
        ),
    ] = None,
    edge_path_prefix: EdgePrefixOpt = None,
    stopped_policy: PolicyOpt = StoppedPolicy.winners_only,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Compare what the state renders with what is live, and what each edge serves.

    Exit 0 when every document matches, 1 on drift (each drifted document named by label
    and kind: missing, different, extra; missing, stale or an error (HTTP status) at the
    edge), 3 for an invalid state, 4 when the target or an edge cannot be reached. Writes
    nothing: a cron job can run it and page on exit 1.
    """
    with errors(as_json):
        resolved = resolve_settings(
            state=state,
            target=target,
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            edge_path_prefix=edge_path_prefix,
            edge_urls=edge,
        )
        where = resolved.require_target()
        result = api.verify(
            resolved.state(),
            where.url,
            publish_options(stopped_policy),
            storage=where.storage,
            edges=list(where.edge_urls),
            sample=sample,
            edge_paths=where.cdn.edge_paths,
        )
    if as_json:
        say_json(_as_json(result))
    else:
        say(_as_text(result))
    if result.drift:
        raise typer.Exit(EXIT_DRIFT)


def _as_text(result: VerifyResult) -> str:
    where = result.target + "".join(f" and {e} ({n:,} fetched)" for e, n in result.edges.items())
    if not result.drift:
        count = f"{result.documents:,} {plural(result.documents, 'document')}"
        return f"All {count} match the state at {where}"
    kinds = Counter(d.kind for d in result.drift)
    lines = [
        f"Drift: {len(result.drift):,} {plural(len(result.drift), 'document')} "
        f"({', '.join(f'{n:,} {k}' for k, n in sorted(kinds.items()))}) "
        f"of {result.documents:,} checked at {where}"
    ]
    lines += [
        f"  {d.kind}: {describe_key(d.key, result.keys.get(d.key))} at {d.where}"
        for d in result.drift
    ]
    return "\n".join(lines)


def _as_json(result: VerifyResult) -> dict[str, Any]:
    return {
        "ok": not result.drift,
        "target": result.target,
        "documents": result.documents,
        "edges": result.edges,
        "drift": [
            {
                "key": key_label(d.key),
                "organization": info.org if (info := result.keys.get(d.key)) else None,
                "description": info.description if info else None,
                "kind": d.kind,
                "where": d.where,
            }
            for d in result.drift
        ],
    }


@app.command()
def history(
    target: TargetOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show this many.")] = 20,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """List the generations published to the target, newest first: when, by whom, what
    kind (publish or rollback), the state's sha256, counts, and whether the CDN purge
    and the webhooks completed. `publisher rollback --to N` restores any marked
    restorable."""
    with errors(as_json):
        resolved = resolve_settings(
            target=target, endpoint_url=endpoint_url, region=region, profile=profile
        )
        where = resolved.require_target()
        found = api.history(where.url, storage=where.storage, limit=limit)
    if as_json:
        say_json([_generation_json(g) for g in found])
        return
    if not found:
        say(f"No generation recorded at {where.url} yet: publish first")
        return
    say(_history_table(found))


def _generation_json(g: Generation) -> dict[str, Any]:
    return {
        "generation": g.generation,
        "time": g.time,
        "kind": g.kind,
        "host": g.host,
        "user": g.user,
        "state_sha256": g.state_sha256,
        "counts": g.counts,
        "purge": g.purge,
        "webhooks": g.webhooks,
        "restorable": g.restorable,
    }


def _history_table(found: list[Generation]) -> str:
    head = (
        "gen",
        "time (UTC)",
        "kind",
        "by",
        "state",
        "added",
        "changed",
        "deleted",
        "unchanged",
        "purge",
        "webhooks",
    )
    rows: list[tuple[str, ...]] = [head]
    for g in found:
        c = g.counts
        rows.append(
            (
                f"{g.generation}{'' if g.restorable else '*'}",
                (g.time or "?").replace("T", " ").rstrip("Z"),
                g.kind,
                f"{g.user or '?'}@{g.host or '?'}",
                (g.state_sha256 or "?")[:12],
                *(f"{c.get(k, 0):,}" for k in ("added", "changed", "deleted", "unchanged")),
                g.purge or "-",
                g.webhooks or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    if any(not g.restorable for g in found):
        lines.append(
            "* not restorable: collected (older than --keep-generations), "
            "or recorded before history was kept"
        )
    return "\n".join(lines)
