"""What the commands share: argument and option types, and errors turned into exit codes."""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from ..errors import PublisherError, UsageError
from ..files import write_atomic
from ..names import header_value_problem
from ..redact import printable, scrub
from ..settings import (
    DEFAULT_TARGET,
    DOCUMENT_READ_CAP,
    MAX_KEEP_GENERATIONS,
    MAX_LOCK_TTL,
    CdnKind,
    EdgePaths,
    PublishOptions,
)
from ..state.model import StoppedPolicy
from .app import GLOBAL
from .output import error_json
from .resolution import Resolved, resolve

StateArg = Annotated[
    Path, typer.Argument(help="Experiment state file (.yaml, .yml or .json).", show_default=False)
]
StateOrConfigArg = Annotated[
    Path | None,
    typer.Argument(
        help="Experiment state file (.yaml, .yml or .json) [default: PUBLISHER_STATE, else "
        "the project file's state].",
        show_default=False,
    ),
]


def resolve_settings(fallback: str | None = DEFAULT_TARGET, **given: Any) -> Resolved:
    """A command's settings from its flags (`given`; None: not given), then PUBLISHER_*
    variables, then the project file (--config, PUBLISHER_CONFIG or ./publisher.toml),
    then the defaults. `fallback`: the target when nothing names one."""
    return resolve({"config": GLOBAL.config, **given}, fallback=fallback)


def choice(kind: type[StrEnum]) -> Callable[[str], str]:
    """Check an option's value against an enum's; a typo gets click's words and a guess
    (an option left unset, None, stays None)."""

    def check(value: str) -> str:
        if value is None:
            return value
        try:
            return kind(value)
        except ValueError:
            names = [str(m.value) for m in kind]
            close = difflib.get_close_matches(value, names, n=1)
            guess = f", did you mean {close[0]!r}?" if close else "."
            raise typer.BadParameter(
                f"{value!r} is not one of {', '.join(map(repr, names))}{guess}"
            ) from None

    return check


def header_value(value: str | None) -> str | None:
    """Option callback: an HTTP header value is printable ASCII (a trailing newline from a
    YAML block would otherwise reach every PUT)."""
    if value is None:
        return value
    problem = header_value_problem(value)
    if problem is not None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise typer.BadParameter(f"{shown!r}: {problem}")
    return value


def publish_options(stopped_policy: str, **values: Any) -> PublishOptions:
    """The options of a publish from a command's: the one place a --stopped-policy value
    (checked by its callback) becomes the policy."""
    return PublishOptions(stopped_policy=StoppedPolicy(stopped_policy), **values)


def choice_metavar(kind: type[StrEnum]) -> str:
    return "[" + "|".join(str(m.value) for m in kind) + "]"


PolicyOpt = Annotated[
    str,
    typer.Option(
        "--stopped-policy",
        callback=choice(StoppedPolicy),
        metavar=choice_metavar(StoppedPolicy),
        help="Stopped experiments without a non-control winner: leave them out "
        "(winners-only) or force control for everyone (force-control).",
    ),
]
MaxBytesOpt = Annotated[
    int,
    typer.Option(
        "--max-document-bytes",
        min=1,
        max=DOCUMENT_READ_CAP,
        help="Largest document allowed, in bytes (at most 64 MiB).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable result on stdout.")]
S3 = "S3 target (--target s3://...)"
CDN = "CDN purge"
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        help="S3-compatible endpoint (R2, MinIO, moto...) [default: PUBLISHER_ENDPOINT_URL, "
        "the target's in the project file, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the "
        "profile's endpoint_url, else AWS S3].",
        rich_help_panel=S3,
    ),
]
RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="Bucket region [default: PUBLISHER_REGION, the target's in the project file, "
        "AWS_DEFAULT_REGION or the profile's region, else us-east-1].",
        rich_help_panel=S3,
    ),
]
MaxDeletesOpt = Annotated[
    int,
    typer.Option(
        "--max-deletes",
        min=0,
        help="Refuse to delete more than this many (with --prune, or in a rollback).",
    ),
]

ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Allow deleting more than --max-deletes, or over half the live documents.",
    ),
]

CdnOpt = Annotated[
    str | None,
    typer.Option(
        "--cdn",
        callback=choice(CdnKind),
        metavar=choice_metavar(CdnKind),
        help="Purge changed paths from this CDN [default: PUBLISHER_CDN, the target's cdn in "
        "the project file, else none].",
        rich_help_panel=CDN,
    ),
]

DistributionIdOpt = Annotated[
    str | None,
    typer.Option("--distribution-id", help="CloudFront distribution id.", rich_help_panel=CDN),
]

PurgeUrlOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--purge-url",
        help="Edge base URL for --cdn http-purge (repeat for several edges).",
        rich_help_panel=CDN,
    ),
]


def _edge_prefix(value: str | None) -> str | None:
    """Option callback: a prefix the edge-path model takes (exit 2 otherwise)."""
    if value is None:
        return value
    try:
        EdgePaths(value)
    except UsageError as exc:
        raise typer.BadParameter(exc.message.split(": ", 1)[-1]) from None
    return value


EdgePrefixOpt = Annotated[
    str | None,
    typer.Option(
        "--edge-path-prefix",
        callback=_edge_prefix,
        help="The path before /config/<key> at the edge, where the edge maps its paths "
        "onto the bucket's one to one (/site); the configs edge-config writes serve "
        "/config/<key> [default: PUBLISHER_EDGE_PATH_PREFIX, the target's in the project "
        "file, else none].",
        rich_help_panel=CDN,
    ),
]


LockTtlOpt = Annotated[
    float,
    typer.Option(
        "--lock-ttl",
        min=10,
        max=MAX_LOCK_TTL,
        help="Seconds a crashed publisher's lock blocks the target before it may be taken "
        "over (a running publisher renews its own; at most a day).",
    ),
]
KeepOpt = Annotated[
    int,
    typer.Option(
        "--keep-generations",
        min=1,
        max=MAX_KEEP_GENERATIONS,
        help="Generations kept restorable by `publisher rollback`; older ones are collected.",
    ),
]
TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target",
        "-t",
        help="A directory, s3://bucket[/prefix], or the name of a target of the project "
        "file; documents go to <target>/config/<key> [default: PUBLISHER_TARGET, the "
        "project file's default_target, else ./public].",
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="AWS config profile (its endpoint_url, region, ca_bundle, s3.addressing_style "
        "and credentials apply) [default: PUBLISHER_PROFILE, the target's in the project "
        "file, AWS_PROFILE, else default].",
        rich_help_panel=S3,
    ),
]


def check_output(path: Path, protect: Sequence[Path] = ()) -> Path:
    """Return the real path a file the user asked for (-o FILE) will be written to, or
    raise a usage error before anything is done: the path is not a regular file (a
    directory, a FIFO, a device), its directory is missing or not writable, or it is a
    file `protect` names (the state) or lies inside a directory it names (a target)."""
    shown = printable(str(path))
    real = Path(os.path.realpath(path))  # a symlink is written through, not replaced
    if real.exists() and not real.is_file():
        raise UsageError(f"{shown}: not a regular file: give the path of a file to write")
    if not real.parent.is_dir():
        raise UsageError(f"{shown}: cannot write: its directory does not exist")
    if not os.access(real.parent, os.W_OK) or (real.exists() and not os.access(real, os.W_OK)):
        raise UsageError(f"{shown}: cannot write: permission denied")
    for kept in protect:
        other = Path(os.path.realpath(kept))
        if real == other or other in real.parents:
            what = "the state file" if real == other else f"a file under {printable(str(kept))}"
            raise UsageError(f"{shown}: refusing to overwrite {what}: choose another path")
    _probe(real.parent, shown)  # last: nothing is made where the output is refused
    return real


def _probe(folder: Path, shown: str) -> None:
    """Make and remove a file where the output will be written as write_atomic writes it
    (a file beside it, renamed): access() lets root by where the file system says no
    (/proc, a read-only mount)."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".publisher-probe-")
    except OSError as exc:
        raise UsageError(f"{shown}: cannot write: {exc.strerror}") from None
    os.close(fd)
    os.unlink(name)


def write_output(path: Path, text: str, protect: Sequence[Path] = ()) -> None:
    """Write a file the user asked for (-o FILE), checked first by `check_output`; a
    usage error, not a traceback, when it cannot be written."""
    real = check_output(path, protect)
    try:
        write_atomic(real, text.encode())
    except OSError as exc:
        raise UsageError(f"{printable(str(path))}: cannot write: {exc.strerror}") from None


def say(text: str, *, err: bool = False, reveal: bool = False) -> None:
    """Print a line (or lines) of output: the one way text leaves the CLI.

    Every remembered API key is shown as its label, and control and bidi characters as
    escapes, whoever built the text. (`keys create`, `keys list --reveal` and `render`
    show a key or a document as it is, on purpose.)
    """
    shown = "\n".join(printable(line) for line in text.split("\n"))
    typer.echo(shown if reveal else scrub(shown), err=err)


def say_json(value: object, *, reveal: bool = False) -> None:
    """Print a --json result: one line, UTF-8 as it is (escaped, labels would not be found)."""
    say(json.dumps(value, separators=(",", ":"), ensure_ascii=False), reveal=reveal)


def fail(error: PublisherError, as_json: bool) -> NoReturn:
    for line in error.lines():
        say(f"error: {line}" if not line.startswith("  ") else line, err=True)
    if as_json:
        say_json(error_json(error))
    raise typer.Exit(error.exit_code)


@contextmanager
def errors(as_json: bool = False) -> Iterator[None]:
    try:
        yield
    except PublisherError as error:
        fail(error, as_json)
    except KeyboardInterrupt:
        say("interrupted: what was in flight has landed and nothing more is written; "
            "re-run to finish", err=True)  # fmt: skip
        raise typer.Exit(130) from None
