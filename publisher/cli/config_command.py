"""`publisher config`: the settings a command would use, and where each came from."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..redact import printable, url_for_display
from .app import ConfigOpt, app
from .common import (
    CdnOpt,
    DistributionIdOpt,
    EndpointOpt,
    JsonOpt,
    ProfileOpt,
    PurgeUrlOpt,
    RegionOpt,
    StateOrConfigArg,
    TargetOpt,
    errors,
    header_value,
    resolve_settings,
    say,
    say_json,
)
from .resolution import Resolved

SHOWN = (
    "config",
    "state",
    "target",
    "url",
    "endpoint_url",
    "region",
    "profile",
    "cdn",
    "distribution_id",
    "purge_urls",
    "cache_control",
    "prune",
    "edge_urls",
    "edge_path_prefix",
)
FROM_AWS = ("endpoint_url", "region", "profile")
"""Settings that, left unset, the AWS configuration decides (AWS_*, the profile)."""


@app.command("config")
def config_cmd(
    state: StateOrConfigArg = None,
    target: TargetOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    cdn: CdnOpt = None,
    distribution_id: DistributionIdOpt = None,
    purge_url: PurgeUrlOpt = None,
    cache_control: Annotated[
        str | None,
        typer.Option("--cache-control", callback=header_value, help="As publish takes it."),
    ] = None,
    prune: Annotated[
        bool | None, typer.Option("--prune/--no-prune", help="As publish takes it.")
    ] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Print the settings publish, verify, history, rollback and report would use with
    these options, each with where it came from: a flag, a PUBLISHER_* variable, the
    project file (publisher.toml) or the default.

    It reads no credential and prints no secret (URLs are shown without userinfo or
    query); `publisher -v publish ...` logs what the AWS configuration resolves.
    """
    with errors(as_json):
        resolved = resolve_settings(
            state=state,
            target=target,
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            cdn=cdn,
            distribution_id=distribution_id,
            purge_urls=purge_url,
            cache_control=cache_control,
            prune=prune,
        )
    if as_json:
        say_json(_as_json(resolved))
    else:
        say(_as_text(resolved))


def _rows(resolved: Resolved) -> list[tuple[str, str, str]]:
    rows = []
    for name in SHOWN:
        found = resolved.values.get(name)
        if found is None:
            continue
        source = found.source
        if found.value is None and name in FROM_AWS:
            source = "default: the AWS configuration (AWS_* variables, the profile)"
        elif found.value is None and name == "config":
            source = "none: no --config, PUBLISHER_CONFIG or ./publisher.toml"
        rows.append((name, _shown(found.value), source))
    return rows


def _as_text(resolved: Resolved) -> str:
    rows = [("setting", "value", "from"), *_rows(resolved)]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(
        f"{name.ljust(widths[0])}  {value.ljust(widths[1])}  {source}".rstrip()
        for name, value, source in rows
    )


def _as_json(resolved: Resolved) -> dict[str, Any]:
    settings = {}
    for name in SHOWN:
        found = resolved.values.get(name)
        if found is not None:
            value = found.value
            if isinstance(value, str | list | tuple):
                value = _shown_value(value)
            settings[name] = {"value": value, "source": found.source}
    named = resolved.target.name if resolved.target is not None else None
    return {"target_name": named, "settings": settings}


def _shown_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_one(v) for v in value]
    return _one(value)


def _one(value: str) -> str:
    """A value as it may be shown: a URL without userinfo or query, escaped."""
    if value.startswith(("http://", "https://")):
        return url_for_display(value)
    return printable(value)


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_one(str(v)) for v in value) or "-"
    return _one(str(value)) or "''"
