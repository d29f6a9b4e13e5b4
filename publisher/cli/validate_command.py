"""`publisher validate`: check one or more state files (or stdin), as pre-commit calls it."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import PublisherError, UsageError
from ..publishing.load_and_render import Prepared, prepare
from ..redact import key_label, plural
from ..settings import DEFAULT_MAX_DOCUMENT_BYTES, PublishOptions
from ..state import State
from ..state.load import MAX_STATE_BYTES, parse_state, read_state_bytes
from ..state.model import StoppedPolicy
from .app import ConfigOpt, app
from .common import (
    JsonOpt,
    MaxBytesOpt,
    PolicyOpt,
    choice,
    choice_metavar,
    errors,
    publish_options,
    resolve_settings,
    say,
    say_json,
)
from .output import error_json

STDIN = "-"
STDIN_NAME = "<stdin>"
SHORT_KEY = 16
"""Keys shorter than this get a warning: a document's key is its only secret."""


class StateFormat(StrEnum):
    yaml = "yaml"
    json = "json"


@dataclass
class Checked:
    """One file's outcome: what it holds, or what is wrong with it."""

    name: str
    prepared: Prepared | None = None
    error: PublisherError | None = None


@app.command()
def validate(
    states: Annotated[
        list[Path] | None,
        typer.Argument(
            help="State files (.yaml, .yml or .json); - reads one from stdin [default: "
            "PUBLISHER_STATE, else the project file's state].",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            callback=choice(StateFormat),
            metavar=choice_metavar(StateFormat),
            help="The format of stdin (-), or of files whatever their extension [default: "
            "the extension; stdin: json if it starts with {, else yaml].",
        ),
    ] = None,
    no_secrets: Annotated[
        bool,
        typer.Option(
            "--no-secrets",
            help="Do not require the webhooks' secrets in the environment (pre-commit, pull "
            "requests: the secrets live only where publish runs).",
        ),
    ] = False,
    stopped_policy: PolicyOpt = StoppedPolicy.winners_only,
    max_document_bytes: MaxBytesOpt = DEFAULT_MAX_DOCUMENT_BYTES,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Check each state file, every document it renders and that its webhooks' secrets
    are set; write nothing.

    Every file is checked and every problem of each reported. Exit 0 when all are valid,
    3 when one is invalid, 2 for a file that cannot be read (and no invalid one).
    """
    if not states:
        with errors(as_json):
            states = [resolve_settings(None).state()]
    names = [str(s) for s in states]
    if names.count(STDIN) > 1:
        say("error: - (stdin) can be given once", err=True)
        raise typer.Exit(UsageError.exit_code)
    options = publish_options(stopped_policy, max_document_bytes=max_document_bytes)
    checked = [_check(name, fmt, options, secrets=not no_secrets) for name in names]
    for one in checked:
        _report(one, quiet=as_json)
    failed = [one.error.exit_code for one in checked if one.error is not None]
    code = max(failed, default=0)
    if as_json:
        objects = [_as_json(one) for one in checked]
        ok = {"ok": not failed, "exit_code": code}
        say_json(objects[0] if len(objects) == 1 else {**ok, "files": objects})
    if code:
        raise typer.Exit(code)


def _check(name: str, fmt: str | None, options: PublishOptions, *, secrets: bool) -> Checked:
    """Load, render and validate one file (or stdin), keeping its error."""
    shown = STDIN_NAME if name == STDIN else name
    try:
        state: State | Path = _read(name, fmt) if name == STDIN or fmt else Path(name)
        return Checked(shown, prepared=prepare(state, options, secrets=secrets))
    except PublisherError as error:
        return Checked(shown, error=error)


def _read(name: str, fmt: str | None) -> State:
    """A state from stdin, or from a file in the format --format says."""
    if name == STDIN:
        raw, source = sys.stdin.buffer.read(MAX_STATE_BYTES + 1), STDIN_NAME
        if len(raw) > MAX_STATE_BYTES:
            raise UsageError(f"{source}: over {MAX_STATE_BYTES >> 20} MiB: not a state file")
    else:
        raw, source = read_state_bytes(Path(name)), name
    if fmt is None:
        fmt = "json" if raw.lstrip().startswith(b"{") else "yaml"
    return parse_state(raw, fmt, source)


def _report(one: Checked, *, quiet: bool) -> None:
    """The file's problems on stderr, or a warning for short keys and (unless `quiet`:
    --json says it) its line on stdout."""
    if one.error is not None:
        for line in one.error.lines():
            say(f"error: {line}" if not line.startswith("  ") else line, err=True)
        return
    assert one.prepared is not None
    loaded, rendered, _ = one.prepared
    short = [key_label(k) for k in rendered.keys if len(k) < SHORT_KEY]
    if short:
        say(
            f"warning: {one.name}: {_count(len(short), 'API key')} "
            f"{'has' if len(short) == 1 else 'have'} fewer than {SHORT_KEY} characters and could "
            f"be guessed: {', '.join(short[:10])}{' …' if len(short) > 10 else ''}; replace them "
            "with `publisher keys create` (36 characters, 128 random bits)",
            err=True,
        )
    if quiet:
        return
    revoked = sum(1 for k in rendered.keys.values() if k.revoked)
    say(
        f"{one.name}: valid: {_count(len(loaded.organizations), 'organization')}, "
        f"{_count(rendered.count(), 'document')} "
        f"({rendered.distinct_count()} distinct), {_count(revoked, 'revoked key')}"
    )


def _as_json(one: Checked) -> dict[str, Any]:
    if one.error is not None:
        return {"file": one.name, **error_json(one.error)}
    assert one.prepared is not None
    loaded, rendered, _ = one.prepared
    return {
        "file": one.name,
        "ok": True,
        "organizations": len(loaded.organizations),
        "documents": rendered.count(),
        "distinct": rendered.distinct_count(),
        "revoked": sum(1 for k in rendered.keys.values() if k.revoked),
        "webhooks": sum(len(org.webhooks) for org in loaded.organizations),
        "short_keys": [key_label(k) for k in rendered.keys if len(k) < SHORT_KEY],
    }


def _count(count: int, noun: str) -> str:
    return f"{count:,} {plural(count, noun)}"
