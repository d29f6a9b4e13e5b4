"""The commands that start or read a state file: init, render (validate: validate_command.py)."""

from __future__ import annotations

import json
import os
import sys
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
import yaml

from ..errors import UsageError
from ..files import write_atomic
from ..publishing.load_and_render import prepare
from ..redact import key_label
from ..state.load import state_format
from ..state.model import StoppedPolicy
from .app import ConfigOpt, app
from .common import (
    PolicyOpt,
    StateOrConfigArg,
    errors,
    publish_options,
    resolve_settings,
    say,
)


@app.command()
def init(
    path: Annotated[
        str,
        typer.Argument(
            help="Where to write the example state: a .yaml, .yml or .json file (missing "
            "folders are created)."
        ),
    ] = "experiments.yaml",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write an example state file to start from: commented YAML, or JSON for a .json
    path."""
    with errors():
        where, created = _write_example(path, force)
    made = f" (created {created}/)" if created else ""
    say(f"Wrote {where}{made}. Next: publisher validate {where} && publisher publish {where}")


def _write_example(name: str, force: bool) -> tuple[Path, Path | None]:
    """Write the example state at `name` in the format its extension says; return the
    path and the outermost folder created for it (None: it was there)."""
    path = Path(name)
    if name.endswith(("/", os.sep)) or path.is_dir():
        raise UsageError(
            f"{name}: names a directory: give the file to write, e.g. "
            f"{(path / 'experiments.yaml').as_posix()}"
        )
    fmt = state_format(path)  # an unknown extension is refused before anything is made
    if path.exists() and not path.is_file():  # a FIFO, a device, a socket
        raise UsageError(f"{path}: not a regular file: give the path of a file to write")
    if os.path.lexists(path) and not force:  # a link to a missing file is there too
        raise UsageError(f"{path} exists: pass --force to overwrite it")
    example = files("publisher").joinpath("data/example.yaml").read_bytes()
    if fmt == "json":  # the same example, without its comments (JSON has none)
        example = (json.dumps(yaml.safe_load(example), indent=2) + "\n").encode()
    missing = [p for p in path.parents if not p.exists()]
    above = next((p for p in path.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise UsageError(f"{path}: cannot create its folder: {above} is a file")
    try:
        write_atomic(path, example)
    except OSError as exc:
        where = missing[-1] if missing else path.parent
        raise UsageError(f"{path}: cannot write in {where}: {exc.strerror}") from None
    return path, missing[-1] if missing else None


@app.command()
def render(
    key: Annotated[str, typer.Option("--key", "-k", help="The API key whose document to print.")],
    state: StateOrConfigArg = None,
    stopped_policy: PolicyOpt = StoppedPolicy.winners_only,
    config: ConfigOpt = None,
) -> None:
    """Print the document one API key would get, exactly as it would be published."""
    with errors():
        state = resolve_settings(None, state=state).state()
        options = publish_options(stopped_policy)
        _, rendered, _ = prepare(state, options, secrets=False)  # printing needs no secret
        doc = rendered.documents.get(key)
        if doc is None:
            info = rendered.keys.get(key)
            why = "is revoked, so it gets no document" if info else "is not in the state"
            raise UsageError(f"key {key_label(key)} {why}: see `publisher keys list {state}`")
    sys.stdout.buffer.write(doc.body + b"\n")
    sys.stdout.flush()
