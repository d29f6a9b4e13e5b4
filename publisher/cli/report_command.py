"""`publisher report`: a static status page of the state (and of a target) for people."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import api
from ..pages.status_page import status_page
from ..publishing.load_and_render import prepare
from ..settings import StorageSettings
from ..state.model import StoppedPolicy
from .app import app
from .common import (
    EndpointOpt,
    PolicyOpt,
    ProfileOpt,
    RegionOpt,
    StateArg,
    errors,
    publish_options,
    say,
    write_output,
)


@app.command()
def report(
    state: StateArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")],
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="Also say whether each document there is in sync, and its recent generations.",
        ),
    ] = None,
    stopped_policy: PolicyOpt = StoppedPolicy.winners_only,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Write a static status page: per organization its experiments (status, weights as
    bars, coverage, groups, URL pattern, forced winner) and which keys receive which.

    One self-contained HTML file (inline CSS, nothing fetched); keys appear only as
    labels, and every text is escaped. With --target, whether each document is in sync
    and the recent generations.
    """
    with errors():
        options = publish_options(stopped_policy)
        prepared = prepare(state, options, secrets=False)
        checked, history = None, []
        if target is not None:
            storage = StorageSettings(endpoint_url, region, profile)
            checked = api.verify(prepared.state, target, options, storage=storage)
            history = api.history(target, storage=storage, limit=10)
        html = status_page(prepared.state, prepared.rendered, checked, history)
        kept = [state] if target is None or target.startswith("s3://") else [state, Path(target)]
        write_output(output, html, kept)
    say(f"Wrote {output}")
