"""Schema errors of the state in words a person fixes them by, with line and location."""

from __future__ import annotations

import difflib
import re
from typing import Any

from ..errors import Path_, Problem, format_path
from ..redact import key_label, printable
from .yaml_lines import Parsed, line_of


def schema_problem(parsed: Parsed, error: Any, prefix: Path_ = ()) -> list[Problem]:
    """Return the problems one schema error stands for (one per unknown or missing field)."""
    path: Path_ = (*prefix, *error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return [
            Problem(
                format_path((*path, name)),
                _unknown_field(name, allowed),
                line_of(parsed, (*path, name)),
            )
            for name in extra
        ]
    if kind == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        line = line_of(parsed, path)
        return [
            Problem(format_path(path), f"missing required field {name!r}", line) for name in missing
        ]
    # A string where a key belongs (or might: an unknown field) is shown by its label.
    secret = "api_keys" in path and path[-1] not in ("description", "project", "revoked")
    message = _schema_message(error, secret)
    return [Problem(format_path(path), message, line_of(parsed, path))]


def _unknown_field(name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown field: {guess}allowed here: {', '.join(allowed)}"


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
}


def _describe(value: Any, secret: bool = False) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if secret and not isinstance(value, str):
        return type(value).__name__  # a number where a key belongs is shown by its kind only
    text = repr(key_label(value) if secret else value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _schema_message(error: Any, secret: bool) -> str:
    """Say what is wrong; under `api_keys` (`secret`) a string is shown by its label only."""
    kind, value, arg = error.validator, error.instance, error.validator_value
    if kind == "type":
        hint = " (quote it to make it a string)" if arg == "string" and value is not None else ""
        return f"expected {_TYPE_NAMES.get(arg, arg)}, got {_describe(value, secret)}{hint}"
    if kind == "enum":
        choices = [str(a) for a in arg]
        shown = repr(value) if isinstance(value, str) and not secret else _describe(value, secret)
        close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
        guess = f"; did you mean {close[0]!r}?" if close else ""
        return f"{shown} is not one of: {', '.join(choices)}{guess}"
    if kind == "const":
        return f"must be {arg!r}, got {_describe(value, secret)}"
    if kind == "pattern":
        shown = key_label(value) if secret and isinstance(value, str) else value
        return f"{shown!r} does not match the pattern {arg}"
    if kind in ("minimum", "maximum"):
        bound = "at least" if kind == "minimum" else "at most"
        return f"{value} is out of range: must be {bound} {arg}"
    if kind == "minItems":
        return f"needs at least {arg} item{'s' if arg != 1 else ''}, got {len(value)}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "maxLength":
        return f"is longer than {arg} characters"
    if kind == "uniqueItems":
        return "has duplicate items"
    return "is not valid here" if secret else str(error.message)


_ORG_PATH = re.compile(r"organizations\[(\d+)\](?:\.experiments\[(\d+)\])?")


def orgs_of(data: Any) -> list[Any]:
    orgs = data.get("organizations") if isinstance(data, dict) else None
    return orgs if isinstance(orgs, list) else []


def named(problem: Problem, orgs: list[Any]) -> Problem:
    """Add the names to an index location: `organizations[0].experiments[4] (acme/search)`."""
    found = _ORG_PATH.match(problem.location)
    if found is None or int(found[1]) >= len(orgs) or not isinstance(orgs[int(found[1])], dict):
        return problem
    org = orgs[int(found[1])]
    name = org.get("id")
    if not isinstance(name, str):
        return problem
    experiments = org.get("experiments")
    if found[2] is not None and isinstance(experiments, list) and int(found[2]) < len(experiments):
        experiment = experiments[int(found[2])]
        key = experiment.get("key") if isinstance(experiment, dict) else None
        if isinstance(key, str):
            name = f"{name}/{key}"
    return Problem(problem.location, problem.message, problem.line, problem.source, printable(name))
