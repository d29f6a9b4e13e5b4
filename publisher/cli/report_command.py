"""`publisher report`: a static status page of the state (and of a target) for people."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import api
from ..pages.status_page import status_page
from ..publishing.load_and_render import prepare
from ..state.model import StoppedPolicy
from .app import ConfigOpt, app
from .common import (
    EndpointOpt,
    PolicyOpt,
    ProfileOpt,
    RegionOpt,
    StateOrConfigArg,
    errors,
    publish_options,
    resolve_settings,
    say,
    write_output,
)


@app.command()
def report(
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")],
    state: StateOrConfigArg = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="Also say whether each document there is in sync, and its recent generations "
            "(a directory, s3://bucket[/prefix] or a target of the project file) [default: "
            "PUBLISHER_TARGET, else the project file's default_target, else none].",
        ),
    ] = None,
    stopped_policy: PolicyOpt = StoppedPolicy.winners_only,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write a static status page: per organization its experiments (status, weights as
    bars, coverage, groups, URL pattern, forced winner) and which keys receive which.

    One self-contained HTML file (inline CSS, nothing fetched); keys appear only as
    labels, and every text is escaped. With --target, whether each document is in sync
    and the recent generations.
    """
    with errors():
        resolved = resolve_settings(
            None, state=state, target=target, endpoint_url=endpoint_url, region=region,
            profile=profile,
        )  # fmt: skip
        state, where = resolved.state(), resolved.target
        options = publish_options(stopped_policy)
        prepared = prepare(state, options, secrets=False)
        checked, history = None, []
        if where is not None:
            checked = api.verify(prepared.state, where.url, options, storage=where.storage)
            history = api.history(where.url, storage=where.storage, limit=10)
        local = where is not None and not where.url.startswith("s3://")
        write_output(
            output,
            status_page(prepared.state, prepared.rendered, checked, history),
            [state, Path(where.url)] if where is not None and local else [state],
        )
    say(f"Wrote {output}")
