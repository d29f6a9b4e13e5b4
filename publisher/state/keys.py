"""Create, list and revoke API keys in the state file, keeping its comments and layout."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..errors import StateError
from ..files import write_atomic
from . import edit_json, edit_yaml
from .load import parse_state, read_state_bytes, state_format


@dataclass(frozen=True)
class KeyRow:
    key: str
    org: str
    description: str | None
    project: str | None
    revoked: bool


def generate_key() -> str:
    """Return a new key: `key_` and 32 lowercase hex digits (128 random bits)."""
    return "key_" + secrets.token_hex(16)


def list_keys(path: Path) -> list[KeyRow]:
    """Return every key of a valid state file, in file order."""
    state = parse_state(read_state_bytes(path), state_format(path), str(path))
    return [KeyRow(k.key, o.id, k.description, k.project, k.revoked) for o, k in state.api_keys()]


def create_key(
    path: Path, org: str, description: str | None = None, project: str | None = None
) -> str:
    """Add a new key to organization `org` in the state file and return it."""
    key = generate_key()
    entry = {"key": key}
    if description:
        entry["description"] = description
    if project:
        entry["project"] = project
    _edit(path, lambda editor, text: editor.add_api_key(text, org, entry))
    return key


def revoke_key(path: Path, key: str) -> bool:
    """Mark `key` revoked in the state file (its document goes on the next --prune).

    Return False, changing nothing, when it already was.
    """
    if any(row.key == key and row.revoked for row in list_keys(path)):
        return False
    _edit(path, lambda editor, text: editor.revoke_api_key(text, key))
    return True


def _edit(path: Path, edit: Callable[[ModuleType, str], str]) -> None:
    """Apply one edit to the file, with the editor of its format; both ends must be valid."""
    fmt = state_format(path)
    raw = read_state_bytes(path)
    try:
        parse_state(raw, fmt, str(path))
    except StateError as exc:
        exc.message = f"{exc.message}; fix the state before editing its keys"
        raise
    editor = edit_yaml if fmt == "yaml" else edit_json
    text = raw.decode("utf-8")
    bom = "\ufeff" if text.startswith("\ufeff") else ""  # kept, as the file had it
    new_raw = (bom + edit(editor, text.removeprefix(bom))).encode("utf-8")
    parse_state(new_raw, fmt, str(path))  # the edit must leave a valid state
    write_atomic(path, new_raw)
