"""The commands that read or start a state file: init, validate, render."""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..publishing.load_and_render import prepare
from ..redact import key_label, plural
from ..settings import DEFAULT_MAX_DOCUMENT_BYTES
from ..state.model import StoppedPolicy
from .app import app
from .common import (
    JsonOpt,
    MaxBytesOpt,
    PolicyOpt,
    StateArg,
    errors,
    publish_options,
    say,
    say_json,
)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example state.")] = Path(
        "experiments.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example state file to start from."""
    with errors():
        if path.exists() and not force:
            raise UsageError(f"{path} exists: pass --force to overwrite it")
        example = files("publisher").joinpath("data/example.yaml").read_bytes()
        path.write_bytes(example)
    say(f"Wrote {path}. Next: publisher validate {path} && publisher publish {path}")


def _count(count: int, noun: str) -> str:
    return f"{count:,} {plural(count, noun)}"


SHORT_KEY = 16
"""Keys shorter than this get a warning: a document's key is its only secret."""


@app.command()
def validate(
    state: StateArg,
    stopped_policy: PolicyOpt = StoppedPolicy.winners_only,
    max_document_bytes: MaxBytesOpt = DEFAULT_MAX_DOCUMENT_BYTES,
    as_json: JsonOpt = False,
) -> None:
    """Check the state, every document it renders and that webhook secrets are set; write
    nothing (exit 3 on a problem)."""
    with errors(as_json):
        options = publish_options(stopped_policy, max_document_bytes=max_document_bytes)
        loaded, rendered, hooks = prepare(state, options)
    short = [key_label(k) for k in rendered.keys if len(k) < SHORT_KEY]
    revoked = sum(1 for k in rendered.keys.values() if k.revoked)
    summary = {
        "ok": True,
        "organizations": len(loaded.organizations),
        "documents": rendered.count(),
        "distinct": rendered.distinct_count(),
        "revoked": revoked,
        "webhooks": len(hooks),
        "short_keys": short,
    }
    if short:
        say(
            f"warning: {_count(len(short), 'API key')} "
            f"{'has' if len(short) == 1 else 'have'} fewer than {SHORT_KEY} characters and could "
            f"be guessed: {', '.join(short[:10])}{' …' if len(short) > 10 else ''}; replace them "
            "with `publisher keys create` (36 characters, 128 random bits)",
            err=True,
        )
    if as_json:
        say_json(summary)
    else:
        say(
            f"{state}: valid: {_count(len(loaded.organizations), 'organization')}, "
            f"{_count(rendered.count(), 'document')} "
            f"({summary['distinct']} distinct), {_count(revoked, 'revoked key')}"
        )


@app.command()
def render(
    state: StateArg,
    key: Annotated[str, typer.Option("--key", "-k", help="The API key whose document to print.")],
    stopped_policy: PolicyOpt = StoppedPolicy.winners_only,
) -> None:
    """Print the document one API key would get, exactly as it would be published."""
    with errors():
        options = publish_options(stopped_policy)
        _, rendered, _ = prepare(state, options, secrets=False)  # printing needs no secret
        doc = rendered.documents.get(key)
        if doc is None:
            info = rendered.keys.get(key)
            why = "is revoked, so it gets no document" if info else "is not in the state"
            raise UsageError(f"key {key_label(key)} {why}: see `publisher keys list {state}`")
    sys.stdout.buffer.write(doc.body + b"\n")
    sys.stdout.flush()
