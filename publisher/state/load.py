"""Load the experiment state and report every problem of it in one run (SPEC section 2)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..errors import Path_, Problem, StateError, UsageError, format_path
from ..gcpause import no_cycles
from ..schemas import schema_errors
from .json_stream import JsonStateReader, JsonSyntaxError
from .messages import schema_problem
from .model import ApiKey, Experiment, Organization, Phase, State, Webhook
from .rules import SemanticChecker, check_semantics, may_hold_surrogates
from .yaml_lines import Parsed, line_of, parse_yaml

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
    sha256 = hashlib.sha256(raw).hexdigest()
    text = _decode(raw, str(path))
    del raw  # a large state: hold one copy of the text at a time
    return _parse(text, fmt, str(path), sha256)


def parse_state(raw: bytes, fmt: str, source: str = "<state>") -> State:
    """Parse state bytes of format `yaml` or `json`; raise StateError listing every problem."""
    return _parse(_decode(raw, source), fmt, source, hashlib.sha256(raw).hexdigest())


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        problem = Problem("", f"not UTF-8: byte {exc.start} cannot be decoded")
        raise StateError.from_problems(source, [problem]) from None


def _parse(text: str, fmt: str, source: str, sha256: str) -> State:
    with no_cycles():
        return _parse_any(text, fmt, source, sha256)


def _parse_any(text: str, fmt: str, source: str, sha256: str) -> State:
    if fmt == "json":
        return _parse_json(text, source, sha256)
    escapes = may_hold_surrogates(text)
    parsed = parse_yaml(text)
    del text
    problems = [_with_source(p, source) for p in parsed.problems]
    if not problems:
        problems = [_with_source(p, source) for p in _check(parsed, escapes)]
    if problems:
        raise StateError.from_problems(source, problems)
    return _build(parsed.data, sha256)


def _parse_json(text: str, source: str, sha256: str) -> State:
    """Check and build a JSON state one organization at a time (large states stay small)."""
    reader = JsonStateReader(text)
    checker = SemanticChecker(may_hold_surrogates(text))
    builder = _Builder()
    problems: list[Problem] = []
    orgs: list[Organization] = []

    def on_org(index: int, org: Any) -> None:
        found = _org_problems(index, org, checker)
        problems.extend(found)
        if not problems:
            orgs.append(builder.org(org))

    try:
        top = reader.read(on_org)
    except JsonSyntaxError as exc:
        problems.append(exc.problem)
        top = {}
    else:
        if isinstance(top, dict) and reader.streamed:
            top = {**top, "organizations": []}
        if top is None:
            problems.append(
                Problem("", "expected an object with `version` and `organizations`, got null", 1)
            )
        else:
            problems += _check(Parsed(top), escapes=False)
    problems = [_with_source(p, source) for p in [*reader.problems, *problems]]
    if problems:
        raise StateError.from_problems(source, problems)
    return State(tuple(orgs), sha256)


def _org_problems(index: int, org: Any, checker: SemanticChecker) -> list[Problem]:
    prefix: Path_ = ("organizations", index)
    found: list[Problem] = []
    for error in schema_errors("state#organization", org):
        found += schema_problem(Parsed(), error, prefix)
    for path, message in checker.organization(index, org):
        found.append(Problem(format_path(path), message))
    return found


def _with_source(problem: Problem, source: str) -> Problem:
    return Problem(problem.location, problem.message, problem.line, source)


def _check(parsed: Parsed, escapes: bool) -> list[Problem]:
    data = parsed.data
    if data is None:
        return [Problem("", "the file is empty: expected `version: 1` and `organizations`", 1)]
    found: list[Problem] = []
    for error in schema_errors("state", data):
        found += schema_problem(parsed, error)
    for path, message in check_semantics(data, escapes):
        found.append(Problem(format_path(path), message, line_of(parsed, path)))
    return sorted(set(found), key=lambda p: (p.line or 0, p.location, p.message))


def _build(data: dict[str, Any], sha256: str) -> State:
    orgs = data["organizations"]
    builder = _Builder()
    built = []
    for index, org in enumerate(orgs):
        built.append(builder.org(org))
        orgs[index] = None  # free the parsed copy as the typed one grows
    return State(tuple(built), sha256)


class _Builder:
    """Build the typed state, sharing repeated values (statuses, variation names, weights).

    A state of 100,000 keys repeats the same few strings and tuples hundreds of
    thousands of times; one shared copy of each keeps the process small.
    """

    def __init__(self) -> None:
        self._seen: dict[Any, Any] = {}

    def share(self, value: Any) -> Any:
        return self._seen.setdefault(value, value)

    def org(self, o: dict[str, Any]) -> Organization:
        share = self.share
        return Organization(
            id=o["id"],
            name=o.get("name"),
            api_keys=tuple(
                ApiKey(
                    k["key"],
                    share(k.get("description")),
                    share(k.get("project")),
                    bool(k.get("revoked", False)),
                )
                for k in o.get("api_keys", [])
            ),
            webhooks=tuple(
                Webhook(w["url"], w["secret_env"], w.get("project"), w.get("description"))
                for w in o.get("webhooks", [])
            ),
            experiments=tuple(self.experiment(e) for e in o.get("experiments", [])),
        )

    def experiment(self, e: dict[str, Any]) -> Experiment:
        share = self.share
        phases = tuple(
            share(
                Phase(
                    _number(p["coverage"]),
                    share(tuple(map(_number, p["weights"]))),
                    share(tuple(map(share, p.get("groups", ())))),
                )
            )
            for p in e.get("phases", [])
        )
        return Experiment(
            key=e["key"],
            status=share(e["status"]),
            variations=share(tuple(map(share, e["variations"]))),
            phases=phases,
            project=share(e.get("project")),
            archived=bool(e.get("archived", False)),
            url=share(e.get("url")),
            winner=e.get("winner"),
        )


def _number(value: float) -> float:
    # 1 and 1.0 in the state must give the same bytes: integral floats become ints.
    return int(value) if type(value) is float and value.is_integer() else value
