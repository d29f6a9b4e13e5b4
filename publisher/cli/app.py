"""The typer application and its global options; the commands add themselves to it."""

from __future__ import annotations

import enum
import functools
import logging
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from .. import __version__
from ..redact import printable, scrub

_F = TypeVar("_F", bound=Callable[..., Any])
_METAVARS = {str: "TEXT", int: "INTEGER", float: "NUMBER", Path: "PATH"}


def _metavar(annotation: Any) -> str | None:
    """The name click users know for a value: TEXT, INTEGER, PATH, [a|b]."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list) and args:
        return _metavar(args[0])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "[" + "|".join(str(m.value) for m in annotation) + "]"
    return _METAVARS.get(annotation)


class _Argument(TyperArgument):
    """An argument shown as click shows one: `STATE` in the usage, no type beside it."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        return name if self.required else f"[{name}]"

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _name_values(params: list[Any]) -> None:
    for param in params:
        if isinstance(param, TyperArgument):
            param.__class__ = _Argument
            param.metavar = param.metavar or (param.name or "").upper()
        elif isinstance(param, TyperOption) and not param.is_flag and param.metavar is None:
            param.metavar = _metavar(param.type_descriptor.annotation)


class Command(TyperCommand):
    """A command whose help names values as click does (STATE, TEXT, INTEGER), and that
    takes -v/--verbose and -q/--quiet after its name as the app does before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = {param.name for param in self.params}
        self.params += [p for p in _output_options() if p.name not in names]
        _name_values(self.params)


_ORDER = [
    *("init", "validate", "render", "publish", "verify", "history", "rollback"),
    *("report", "init-bucket", "edge-config", "config"),
    *("serve", "pull", "receive", "keys", "webhooks"),
]


class Group(TyperGroup):
    """A group listing its commands in the order of the work: write, check, publish, serve."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_values(self.params)

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: _ORDER.index(n) if n in _ORDER else len(_ORDER))


class App(typer.Typer):
    """A Typer whose commands are `Command`s."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[_F], _F]:
        kwargs.setdefault("cls", Command)
        decorator: Callable[[_F], _F] = super().command(*args, **kwargs)
        return decorator


app = App(
    cls=Group,
    help=(
        "Publish A/B-experiment overrides as static JSON documents, one per API key at "
        "<target>/config/<apiKey>, to a local directory (default ./public)."
    ),
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
webhooks_app = App(
    cls=Group,
    help="Send the current documents to webhooks on demand.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
keys_app = App(
    cls=Group,
    help="Create, list and revoke API keys in the state file.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(keys_app, name="keys")
app.add_typer(webhooks_app, name="webhooks")


@dataclass
class GlobalOptions:
    """The options of every command, given before its name or after it: how much it says
    besides its result (-v logs each step; -q draws no progress display and logs no
    request; results and errors always print) and which project file it reads."""

    verbose: bool = False
    quiet: bool = False
    config: str | None = None


GLOBAL = GlobalOptions()
"""This run's global options."""


def _set_verbose(value: bool) -> bool:
    if value:
        GLOBAL.verbose = True
        configure_logging(True)
    return value


def _set_quiet(value: bool) -> bool:
    if value:
        GLOBAL.quiet = True
    return value


VERBOSE_HELP = "Log each step and how long it took, labelled by its stage (stderr)."
QUIET_HELP = "No progress display and no request log; results and errors still print."
CONFIG_HELP = (
    "The project file: named targets and the state's default [default: PUBLISHER_CONFIG, "
    "else publisher.toml if the working directory has one]."
)


def _set_config(value: str | None) -> str | None:
    if value is not None:
        GLOBAL.config = value
    return value


ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", metavar="FILE", callback=_set_config, expose_value=False, help=CONFIG_HELP
    ),
]
"""--config after the name of a command that reads the project file."""
VerboseOpt = Annotated[
    bool,
    typer.Option("--verbose", "-v", callback=_set_verbose, expose_value=False, help=VERBOSE_HELP),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", callback=_set_quiet, expose_value=False, help=QUIET_HELP),
]


@functools.cache
def _output_options() -> list[Any]:
    """The -v and -q options every command takes (built by typer, as the commands' are)."""
    probe = typer.Typer(add_completion=False)

    @probe.command()
    def options(verbose: VerboseOpt = False, quiet: QuietOpt = False) -> None:
        pass  # only its options are used

    return list(typer.main.get_command(probe).params)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"publisher {__version__}")
        raise typer.Exit()


class _SafeFormatter(logging.Formatter):
    """Log lines are labelled by their stage (`publisher.publishing.run` → `publishing`)
    and pass the same redaction as every other line of output."""

    def format(self, record: logging.LogRecord) -> str:
        parts = record.name.split(".")
        record.stage = parts[1] if len(parts) > 1 else parts[0]
        return scrub(printable(super().format(record)))


def configure_logging(verbose: bool) -> None:
    """Send our own loggers' lines (INFO with --verbose) to stderr, redacted."""
    # Libraries' loggers (botocore, urllib3) stay quiet.
    logger = logging.getLogger("publisher")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(levelname)s %(stage)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    config: Annotated[
        str | None, typer.Option("--config", metavar="FILE", help=CONFIG_HELP)
    ] = None,
) -> None:
    # They apply to whichever command follows (each command takes them too).
    GLOBAL.verbose, GLOBAL.quiet, GLOBAL.config = verbose, quiet, config
    configure_logging(verbose)
