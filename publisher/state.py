"""Load the experiment state and report every problem of it in one run (SPEC section 2)."""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import Any

from .checks import check_semantics
from .errors import Problem, StateError, UsageError
from .model import ApiKey, Experiment, Organization, Phase, State, Webhook
from .schemas import validator
from .sources import Parsed, Path_, format_path, line_of, parse_json, parse_yaml

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def state_format(path: Path) -> str:
    """Return `yaml` or `json` for a state file name, or raise a usage error."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: unknown state format {path.suffix!r}: use .yaml, .yml or .json")
    return fmt


def read_state_bytes(path: Path) -> bytes:
    """Return the state file's bytes, or raise a usage error naming what is wrong."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file: check the path, or run `publisher init`") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a state file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None


def load_state(path: Path | str) -> State:
    """Read, parse and check a state file; raise StateError listing every problem."""
    path = Path(path)
    fmt = state_format(path)
    raw = read_state_bytes(path)
    return parse_state(raw, fmt, str(path))


def parse_state(raw: bytes, fmt: str, source: str = "<state>") -> State:
    """Parse state bytes of format `yaml` or `json`; raise StateError listing every problem."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = Problem("", f"not UTF-8: byte {exc.start} cannot be decoded")
        raise StateError.from_problems(source, [problem]) from None
    text = text.removeprefix("\ufeff")
    parsed = parse_yaml(text) if fmt == "yaml" else parse_json(text)
    problems = [_with_source(p, source) for p in parsed.problems]
    if not problems:
        problems = [_with_source(p, source) for p in _check(parsed)]
    if problems:
        raise StateError.from_problems(source, problems)
    return _build(parsed.data, hashlib.sha256(raw).hexdigest())


def _with_source(problem: Problem, source: str) -> Problem:
    return Problem(problem.location, problem.message, problem.line, source)


def _check(parsed: Parsed) -> list[Problem]:
    data = parsed.data
    if data is None:
        return [Problem("", "the file is empty: expected `version: 1` and `organizations`", 1)]
    problems = [_schema_problem(parsed, e) for e in validator("state").iter_errors(data)]
    found = [p for group in problems for p in group]
    for path, message in check_semantics(data):
        found.append(Problem(format_path(path), message, line_of(parsed, path)))
    return sorted(set(found), key=lambda p: (p.line or 0, p.location, p.message))


def _schema_problem(parsed: Parsed, error: Any) -> list[Problem]:
    path: Path_ = tuple(error.absolute_path)
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
    return [Problem(format_path(path), _schema_message(error), line_of(parsed, path))]


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


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _schema_message(error: Any) -> str:
    kind, value, arg = error.validator, error.instance, error.validator_value
    if kind == "required":
        missing = [name for name in arg if isinstance(value, dict) and name not in value]
        return f"missing required field {missing[0]!r}" if missing else error.message
    if kind == "type":
        hint = " (quote it to make it a string)" if arg == "string" and value is not None else ""
        return f"expected {_TYPE_NAMES.get(arg, arg)}, got {_describe(value)}{hint}"
    if kind == "enum":
        return f"{_describe(value)} is not one of: {', '.join(map(str, arg))}"
    if kind == "const":
        return f"must be {arg!r}, got {_describe(value)}"
    if kind == "pattern":
        return f"{value!r} does not match the pattern {arg}"
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
    return str(error.message)


def _build(data: dict[str, Any], sha256: str) -> State:
    return State(tuple(_org(o) for o in data["organizations"]), sha256)


def _org(o: dict[str, Any]) -> Organization:
    return Organization(
        id=o["id"],
        name=o.get("name"),
        api_keys=tuple(
            ApiKey(k["key"], k.get("description"), k.get("project"), bool(k.get("revoked", False)))
            for k in o.get("api_keys", [])
        ),
        webhooks=tuple(
            Webhook(w["url"], w["secret_env"], w.get("project"), w.get("description"))
            for w in o.get("webhooks", [])
        ),
        experiments=tuple(_experiment(e) for e in o.get("experiments", [])),
    )


def _experiment(e: dict[str, Any]) -> Experiment:
    phases = tuple(
        Phase(p["coverage"], tuple(p["weights"]), tuple(p.get("groups", ())))
        for p in e.get("phases", [])
    )
    return Experiment(
        key=e["key"],
        status=e["status"],
        variations=tuple(e["variations"]),
        phases=phases,
        project=e.get("project"),
        archived=bool(e.get("archived", False)),
        url=e.get("url"),
        winner=e.get("winner"),
    )
