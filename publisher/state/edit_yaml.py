"""Edit a YAML state file as text, so its comments and formatting survive (pure).

PyYAML's composer gives every node's position; new lines are inserted at those
positions and nothing else in the file changes.
"""

from __future__ import annotations

import json
import re

import yaml

from ..errors import UsageError


def add_api_key(text: str, org_id: str, entry: dict[str, str]) -> str:
    """Return `text` with `entry` appended to the api_keys of organization `org_id`."""
    org = _find_org(_root(text), org_id)
    if org.flow_style:
        raise UsageError(
            f"organization {org_id!r} is written in flow style {{...}}: add the key by hand"
        )
    keys = _value(org, "api_keys")
    if keys is None:
        indent = " " * org.value[0][0].start_mark.column
        lines = [f"{indent}api_keys:", *_block_item(entry, indent + "  ")]
        return _insert_after(text, _last_line(org), lines)
    if isinstance(keys, yaml.SequenceNode) and keys.flow_style:
        close = keys.end_mark.index - 1
        item = "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in entry.items()) + "}"
        return text[:close] + (", " if keys.value else "") + item + text[close:]
    if isinstance(keys, yaml.SequenceNode) and keys.value:
        indent = " " * keys.start_mark.column
        return _insert_after(text, _last_line(keys), _block_item(entry, indent))
    if isinstance(keys, yaml.ScalarNode) and keys.tag == "tag:yaml.org,2002:null":
        key_node = next(k for k, v in org.value if v is keys)
        indent = " " * (key_node.start_mark.column + 2)
        return _insert_after(text, key_node.start_mark.line, _block_item(entry, indent))
    raise UsageError(f"api_keys of organization {org_id!r} is not a list: fix the state file")


def revoke_api_key(text: str, key: str) -> str:
    """Return `text` with `revoked: true` set on the API key `key`."""
    item = _find_key(_root(text), key)
    current = _value(item, "revoked")
    if current is not None:
        return text[: current.start_mark.index] + "true" + text[current.end_mark.index :]
    if item.flow_style:
        close = item.end_mark.index - 1
        return text[:close] + ", revoked: true" + text[close:]
    indent = " " * item.value[0][0].start_mark.column
    return _insert_after(text, _last_line(item), [f"{indent}revoked: true"])


def _root(text: str) -> yaml.MappingNode:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise UsageError(f"the state file is not valid YAML: {exc}") from None
    if not isinstance(node, yaml.MappingNode):
        raise UsageError("the state file is not a YAML mapping")
    return node


def _value(mapping: yaml.MappingNode, name: str) -> yaml.Node | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == name:
            return value_node  # type: ignore[no-any-return]
    return None


def _items(node: yaml.Node | None) -> list[yaml.MappingNode]:
    if not isinstance(node, yaml.SequenceNode):
        return []
    return [n for n in node.value if isinstance(n, yaml.MappingNode)]


def _scalar_value(node: yaml.Node | None) -> str | None:
    if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str):
        return node.value
    return None


def _find_org(root: yaml.MappingNode, org_id: str) -> yaml.MappingNode:
    orgs = _items(_value(root, "organizations"))
    for org in orgs:
        if _scalar_value(_value(org, "id")) == org_id:
            return org
    known = ", ".join(sorted(filter(None, (_scalar_value(_value(o, "id")) for o in orgs))))
    raise UsageError(f"no organization {org_id!r} in the state (there are: {known or 'none'})")


def _find_key(root: yaml.MappingNode, key: str) -> yaml.MappingNode:
    for org in _items(_value(root, "organizations")):
        for item in _items(_value(org, "api_keys")):
            if _scalar_value(_value(item, "key")) == key:
                return item
    raise UsageError("that API key is not in the state: check it with `publisher keys list`")


def _last_line(node: yaml.Node) -> int:
    """Return the 0-based line of the last character that belongs to `node`."""
    if isinstance(node, yaml.MappingNode) and node.value and not node.flow_style:
        return _last_line(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return _last_line(node.value[-1])
    end = node.end_mark
    line: int = end.line
    if end.column == 0 and line > node.start_mark.line:
        line -= 1  # block scalars end at the start of the next line
    return line


def _insert_after(text: str, line: int, new_lines: list[str]) -> str:
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    insert = [f"{item}{newline}" for item in new_lines]
    return "".join(lines[: line + 1] + insert + lines[line + 1 :])


def _block_item(entry: dict[str, str], indent: str) -> list[str]:
    out = []
    for index, (name, value) in enumerate(entry.items()):
        lead = f"{indent}- " if index == 0 else f"{indent}  "
        out.append(f"{lead}{name}: {_scalar(value)}")
    return out


_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}


def _scalar(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar; simple words stay plain.
    if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
        return value
    return json.dumps(value, ensure_ascii=False)
