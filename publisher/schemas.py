"""The JSON Schemas shipped with the package, and the one validator sequence over them."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

if TYPE_CHECKING:  # jsonschema itself is imported only when a value fails (start-up)
    from jsonschema import Draft202012Validator, ValidationError

_HERE = Path(__file__).resolve().parent


def schema_dir() -> Path:
    """Return the folder holding the schemas: inside the wheel, or the checkout's schema/."""
    for candidate in (_HERE / "schema", _HERE.parent / "schema"):
        if (candidate / "overrides.schema.json").is_file():
            return candidate
    raise RuntimeError(f"the JSON Schemas are missing beside {_HERE}: reinstall publisher")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Return the parsed schema `name`: `state`, `overrides`, or `state#organization`.

    `NAME#DEF` is the definition DEF of schema NAME on its own, with the same `$defs`,
    for checking one part of a document at a time.
    """
    if "#" in name:
        base, part = name.split("#", 1)
        whole = load_schema(base)
        return {
            "$schema": whole["$schema"],
            "$defs": whole["$defs"],
            "$ref": f"#/$defs/{part}",
        }
    with open(schema_dir() / f"{name}.schema.json", encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """`pattern` as JSON Schema means it: `$` ends the string (Python's `$` also matches
    before a final line break, which let `"key_...\n"` through)."""
    if isinstance(instance, str) and not re.search(_strict(pattern), instance):
        from jsonschema import ValidationError

        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _strict(pattern: str) -> str:
    return re.sub(r"(?<!\\)\$$", r"\\Z", pattern)


@cache
def validator(name: str) -> Draft202012Validator:
    """Return a draft 2020-12 validator for the schema `name`, built once."""
    from jsonschema import Draft202012Validator, validators

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    extended = validators.extend(Draft202012Validator, {"pattern": _pattern})  # type: ignore[no-untyped-call]
    made: Draft202012Validator = extended(schema)
    return made


@cache
def fast_validator(name: str) -> jsonschema_rs.Draft202012Validator:
    """Return the compiled (Rust) validator of the same schema: the fast yes/no check.

    jsonschema's own validator stays the reference for messages: it runs only when
    this one says no.
    """
    return jsonschema_rs.Draft202012Validator(load_schema(name))


def schema_errors(name: str, value: Any) -> list[ValidationError]:
    """Return every schema problem of `value`: the one validator sequence.

    The compiled validator answers yes/no fast; only on a no does jsonschema run, for
    its located messages. Should the two disagree, the compiled one's words stand.
    """
    try:
        if fast_validator(name).is_valid(value):
            return []
    except (UnicodeEncodeError, ValueError):  # a lone surrogate: the reference alone decides
        return list(validator(name).iter_errors(value))
    found = list(validator(name).iter_errors(value))
    if not found:
        from jsonschema import ValidationError

        found = [
            ValidationError(e.message, path=deque(e.instance_path))
            for e in fast_validator(name).iter_errors(value)
        ]
    return found


def _field_names() -> frozenset[str]:
    names: set[str] = set()
    for name in ("state", "overrides"):
        stack: list[object] = [load_schema(name)]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                names.update(
                    item.get("properties", {}) if isinstance(item.get("properties"), dict) else ()
                )
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return frozenset(names)


FIELD_NAMES = _field_names()
"""Every field name the schemas know: safe to show as it is."""
