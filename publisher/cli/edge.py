"""`publisher edge-config`: a Varnish or nginx configuration for the cache in front."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..servers.edge_config import KINDS, EdgeOptions, render_edge_config
from .app import app
from .common import errors, say


@app.command("edge-config")
def edge_config(
    kind: Annotated[str, typer.Argument(help=f"The cache: {' or '.join(KINDS)}.")],
    origin: Annotated[
        str,
        typer.Option(
            "--origin",
            help="Where the documents come from: http://host:port[/bucket] (a bucket, "
            "path-style, or `publisher serve`).",
        ),
    ],
    listen_port: Annotated[
        int, typer.Option("--listen-port", min=1, max=65535, help="nginx: the port to listen on.")
    ] = 8080,
    purge_acl: Annotated[
        list[str] | None,
        typer.Option(
            "--purge-acl",
            help="Varnish: an address or network allowed to PURGE (repeat; default 127.0.0.1).",
        ),
    ] = None,
    cache_size: Annotated[
        str, typer.Option("--cache-size", help="nginx: the cache's largest size (256m, 2g).")
    ] = "256m",
    cache_path: Annotated[
        str, typer.Option("--cache-path", help="nginx: where the cache lives.")
    ] = "/var/cache/nginx/publisher",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
) -> None:
    """Print a cache configuration for the documents: Varnish (a whole VCL 4.1) or nginx
    (a block to include inside `http { }`).

    Both serve GET/HEAD /config/<key> as the documents' Cache-Control says, serve a stale
    copy while the origin fails, pass the origin's 400 for an unknown key through, and
    never serve _publisher/ or any other path. Varnish accepts PURGE from --purge-acl.
    """
    with errors():
        options = EdgeOptions(
            origin,
            listen_port=listen_port,
            purge_acl=tuple(purge_acl or ("127.0.0.1",)),
            cache_size=cache_size,
            cache_path=cache_path,
        )
        text = render_edge_config(kind, options)
        if output is not None:
            output.write_text(text, encoding="utf-8")
    if output is None:
        say(text.rstrip("\n"), reveal=True)
    else:
        say(f"Wrote {output}", err=True)
