"""The server commands: serve a directory, pull from a CDN, receive webhook pushes."""

from __future__ import annotations

import os
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..servers.http import MAX_CONNECTIONS
from ..servers.serve import make_server
from ..settings import DEFAULT_CACHE_CONTROL
from .app import GLOBAL, app
from .common import errors, say


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
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections",
            min=1,
            max=4096,
            help="Connections served at once (one thread each).",
        ),
    ] = MAX_CONNECTIONS,
    max_per_client: Annotated[
        int | None,
        typer.Option(
            "--max-per-client",
            min=1,
            max=4096,
            help="Connections one client address may hold at once [default: a quarter of "
            "--max-connections]. A cache in front connects from one address: give it as many "
            "as the cache opens at once.",
        ),
    ] = None,
) -> None:
    """Serve GET|HEAD /config/<key> from a published directory, for a self-hosted setup or
    a local test: 400 for an unknown key, 404 elsewhere, nothing outside config/.

    Past --max-connections, or a client's --max-per-client, a new connection is answered
    503 at once, unless a connection that waits for its next request (an idle keep-alive)
    can give its place up: that one is closed instead.

    One line per request goes to stderr (time, client, request with the key as a label,
    status, bytes, duration); --quiet turns it off.
    """
    with errors():
        if not (directory / "config").is_dir():
            raise UsageError(
                f"{directory}/config is not a directory: run `publisher publish` first"
            )
        per_client = max_per_client or max(1, max_connections // 4)
        if per_client > max_connections:
            raise UsageError(
                f"--max-per-client {per_client} is over --max-connections {max_connections}"
            )
        try:
            server = make_server(directory, host, port, cache_control)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        server.set_limits(
            max_connections=max_connections, deadline=server.deadline, per_client=per_client
        )
        server.access_log = None if GLOBAL.quiet else _log_line
    say(
        f"Serving {directory}/config at http://{host}:{server.server_port}/config/<key> "
        "(Ctrl-C stops)",
        err=True,
    )
    _run_until_interrupted(server)


@app.command()
def pull(
    url: Annotated[str, typer.Argument(help="The document URL: https://cdn.example/config/<key>.")],
    out: Annotated[Path, typer.Option("--output", "--out", "-o", help="The file to keep current.")],
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
    from ..servers.pull import pull as pull_document

    with errors():
        result = pull_document(url, out, timeout=timeout, max_stale=max_stale)
    if result.warning:
        say(f"warning: {result.warning}", err=True)
    elif result.status == 304:
        say(f"{out}: not modified")
    else:
        say(f"{out}: {'updated' if result.changed else 'unchanged'}")


@app.command()
def receive(
    out: Annotated[Path, typer.Option("--output", "--out", "-o", help="The file to keep current.")],
    secret_env: Annotated[
        str, typer.Option("--secret-env", help="Environment variable holding the signing secret.")
    ],
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port.")] = 3200,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Accept signed webhook pushes and keep FILE current (the push side of pull).

    Verifies X-GrowthBook-Signature or the Standard Webhooks headers in constant time,
    rejects a timestamp more than 5 minutes off, validates the overrides and replaces
    FILE atomically: 401 bad signature, 400 bad body, 409 a replay, 413 too large. One
    line per request goes to stderr; --quiet turns it off.
    """
    from ..servers.receive import ReceiveServer

    with errors():
        secret = os.environ.get(secret_env)
        if not secret:
            raise UsageError(f"--secret-env {secret_env}: the variable is not set")
        try:
            server = ReceiveServer(host, port, secret, out)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        server.access_log = None if GLOBAL.quiet else _log_line
    say(f"Receiving at http://{host}:{server.server_port}/ into {out} (Ctrl-C stops)", err=True)
    _run_until_interrupted(server)


def _log_line(line: str) -> None:
    say(line, err=True)


def _run_until_interrupted(server: ThreadingHTTPServer) -> None:
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
