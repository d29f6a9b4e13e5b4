"""Edit the API keys of a JSON state file: text in, text out (the YAML twin is edit_yaml)."""

from __future__ import annotations

import json
from typing import Any

from ..errors import UsageError


def add_api_key(text: str, org_id: str, entry: dict[str, str]) -> str:
    """Return `text` with `entry` appended to the api_keys of organization `org_id`."""
    data = json.loads(text)
    _find_org(data, org_id).setdefault("api_keys", []).append(entry)
    return _dump(data)


def revoke_api_key(text: str, key: str) -> str:
    """Return `text` with `revoked: true` set on the entry of `key`."""
    data = json.loads(text)
    for org in data["organizations"]:
        for item in org.get("api_keys", []):
            if item["key"] == key:
                item["revoked"] = True
                return _dump(data)
    raise UsageError("that API key is not in the state: check it with `publisher keys list`")


def _find_org(data: dict[str, Any], org_id: str) -> dict[str, Any]:
    for item in data["organizations"]:
        if item["id"] == org_id:
            return item  # type: ignore[no-any-return]
    known = ", ".join(sorted(o["id"] for o in data["organizations"]))
    raise UsageError(f"no organization {org_id!r} in the state (there are: {known or 'none'})")


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
