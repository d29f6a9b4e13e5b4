"""Create, list and revoke API keys in the state file, keeping its comments and layout."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import StateError, UsageError
from .files import write_atomic
from .state import parse_state, read_state_bytes, state_format
from .yamledit import add_api_key, revoke_api_key


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
    _edit(
        path, lambda text: add_api_key(text, org, entry), lambda data: _json_add(data, org, entry)
    )
    return key


def revoke_key(path: Path, key: str) -> None:
    """Mark `key` revoked in the state file (its document goes on the next --prune)."""
    _edit(path, lambda text: revoke_api_key(text, key), lambda data: _json_revoke(data, key))


def _edit(path: Path, yaml_edit: Any, json_edit: Any) -> None:
    fmt = state_format(path)
    raw = read_state_bytes(path)
    try:
        parse_state(raw, fmt, str(path))
    except StateError as exc:
        exc.message = f"{exc.message}; fix the state before editing its keys"
        raise
    text = raw.decode("utf-8")
    if fmt == "yaml":
        new_text = yaml_edit(text)
    else:
        data = json.loads(text)
        json_edit(data)
        new_text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    new_raw = new_text.encode("utf-8")
    parse_state(new_raw, fmt, str(path))  # the edit must leave a valid state
    write_atomic(path, new_raw)


def _json_org(data: dict[str, Any], org: str) -> dict[str, Any]:
    for item in data["organizations"]:
        if item["id"] == org:
            return item  # type: ignore[no-any-return]
    known = ", ".join(sorted(o["id"] for o in data["organizations"]))
    raise UsageError(f"no organization {org!r} in the state (there are: {known or 'none'})")


def _json_add(data: dict[str, Any], org: str, entry: dict[str, str]) -> None:
    _json_org(data, org).setdefault("api_keys", []).append(entry)


def _json_revoke(data: dict[str, Any], key: str) -> None:
    for org in data["organizations"]:
        for item in org.get("api_keys", []):
            if item["key"] == key:
                item["revoked"] = True
                return
    raise UsageError("that API key is not in the state: check it with `publisher keys list`")
