"""The typer application and its global options; the commands add themselves to it."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from .. import __version__
from ..redact import printable, scrub

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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"publisher {__version__}")
        raise typer.Exit()


class _SafeFormatter(logging.Formatter):
    """Log lines pass the same redaction as every other line of output."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(printable(super().format(record)))


def _configure_logging(verbose: bool) -> None:
    # Only our own loggers, to the stderr of this invocation; libraries' loggers
    # (botocore, urllib3) stay quiet.
    logger = logging.getLogger("publisher")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(levelname)s %(name)s: %(message)s"))
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
