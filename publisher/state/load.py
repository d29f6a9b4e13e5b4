"""Load the experiment state and report every problem of it in one run (SPEC section 2)."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import Path_, Problem, StateError, UsageError, format_path
from ..gcpause import no_cycles
from ..redact import key_strings, printable, remember_keys, scrub
from ..schemas import schema_errors
from .build import TypedBuilder, build_state
from .json_stream import JsonStateReader, JsonSyntaxError, json_lines
from .messages import named, orgs_of, schema_problem
from .model import Organization, State
from .reuse import OrgReuse, ReuseConflict, Reused, Span, check_reused
from .rules import SemanticChecker, check_semantics, may_hold_surrogates, non_finite_numbers
from .yaml_fast import Unusual, is_streamed, read_fast
from .yaml_lines import Parsed, line_of, parse_yaml

log = logging.getLogger(__name__)

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def state_format(path: Path) -> str:
    """Return `yaml` or `json` for a state file name, or raise a usage error."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: unknown state format {path.suffix!r}: use .yaml, .yml or .json")
    return fmt


MAX_STATE_BYTES = 1 << 30
"""A state file larger than this is refused (100,000 keys in JSON are a few hundred MB)."""


def read_state_bytes(path: Path) -> bytes:
    """Return the state file's bytes, or raise a usage error naming what is wrong: only a
    regular file (a FIFO would block, a device never end) of at most MAX_STATE_BYTES."""
    shown = printable(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO: opened, never waited on
    except FileNotFoundError:
        raise UsageError(
            f"{shown}: no such file: check the path, or run `publisher init`"
        ) from None
    except OSError as exc:
        raise UsageError(f"{shown}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UsageError(f"{shown}: is a directory, not a state file")
        if not stat.S_ISREG(mode):
            raise UsageError(f"{shown}: not a regular file (a pipe, a device): give a state file")
        size = os.fstat(fd).st_size
        if size > MAX_STATE_BYTES:
            raise UsageError(f"{shown}: over {MAX_STATE_BYTES >> 20} MiB: not a state file")
        try:
            raw = file.read(size + 1)  # no larger buffer than the file: a memory cap holds
        except OSError as exc:
            raise UsageError(f"{shown}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_STATE_BYTES:
        raise UsageError(f"{shown}: over {MAX_STATE_BYTES >> 20} MiB: not a state file")
    return raw


def load_state(path: Path | str, reuse: OrgReuse | None = None) -> State:
    """Read, parse and check a state file; raise StateError listing every problem.

    With `reuse` (a JSON state), organizations whose text a complete publish already
    checked are not read again (reuse.py), and the others' spans are noted for the next.
    """
    path = Path(path)
    fmt = state_format(path)
    raw = read_state_bytes(path)
    sha256 = hashlib.sha256(raw).hexdigest()
    text = _decode(raw, str(path))
    del raw  # a large state: hold one copy of the text at a time
    if fmt == "json" and reuse is not None:
        with no_cycles():
            try:
                return _parse_json(text, str(path), sha256, reuse)
            except ReuseConflict as exc:
                log.info("reading every organization: %s", exc)
                reuse = OrgReuse(reuse.context)  # spans only
                return _parse_json(text, str(path), sha256, reuse)
    return _parse(text, fmt, str(path), sha256)


def parse_state(raw: bytes, fmt: str, source: str = "<state>") -> State:
    """Parse state bytes of format `yaml` or `json`; raise StateError listing every problem."""
    return _parse(_decode(raw, source), fmt, source, hashlib.sha256(raw).hexdigest())


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problem = Problem("", f"not UTF-8: byte {exc.start} cannot be decoded", line)
        raise StateError.from_problems(source, [problem]) from None


def _parse(text: str, fmt: str, source: str, sha256: str) -> State:
    with no_cycles():
        return _parse_any(text, fmt, source, sha256)


def _parse_any(text: str, fmt: str, source: str, sha256: str) -> State:
    if fmt == "json":
        return _parse_json(text, source, sha256)
    return _parse_yaml(text, source, sha256)


def _parse_yaml(text: str, source: str, sha256: str) -> State:
    """Check and build a YAML state one organization at a time, as the JSON path does.

    A plain, valid state is read once, quickly, without lines; anything else (a problem
    to report, an anchor, a tag) is read again by the careful builder, which notes the
    line of every location."""
    try:
        return _parse_yaml_fast(text, sha256)
    except Unusual:
        return _parse_yaml_careful(text, source, sha256)


def _parse_yaml_fast(text: str, sha256: str) -> State:
    checker = SemanticChecker(may_hold_surrogates(text))
    builder = TypedBuilder()
    orgs: list[Organization] = []

    def on_org(index: int, org: Any) -> None:
        remember_keys(key_strings(org))
        if schema_errors("state#organization", org) or checker.organization(index, org):
            raise Unusual
        orgs.append(builder.org(org))

    top = read_fast(text, on_org)
    if not is_streamed(top, len(orgs)):
        raise Unusual
    if _check(Parsed({**top, "organizations": []}), escapes=False):
        raise Unusual
    return State(tuple(orgs), sha256)


def _parse_yaml_careful(text: str, source: str, sha256: str) -> State:
    escapes = may_hold_surrogates(text)
    checker = SemanticChecker(escapes)
    builder = TypedBuilder()
    parsed = Parsed()
    found: list[Problem] = []
    orgs: list[Organization] = []

    def on_org(index: int, org: Any, lines: dict[Path_, int]) -> None:
        remember_keys(key_strings(org))
        problems = _org_problems(index, org, checker, [], lambda: Parsed(lines=lines))
        found.extend(named(p, [org] * (index + 1)) for p in problems)
        if not found and not parsed.problems:
            orgs.append(builder.org(org))

    parse_yaml(text, on_org, parsed)
    del text
    if not parsed.streamed:  # `organizations` is not a list at the top: checked whole
        _remember_keys(parsed.data)
        problems = [_with_source(p, source) for p in parsed.problems]
        if not problems:
            every = orgs_of(parsed.data)
            problems = [_with_source(named(p, every), source) for p in _check(parsed, escapes)]
        if problems:
            raise StateError.from_problems(source, problems)
        return build_state(parsed.data, sha256)
    top = {**parsed.data, "organizations": []} if isinstance(parsed.data, dict) else parsed.data
    if not parsed.problems:
        found += _check(Parsed(top, parsed.lines), escapes=False)
    # Where the reader already said what is wrong (a date, a tag), the schema's word adds
    # nothing: it sees the value the reader dropped.
    said = {p.location for p in parsed.problems}
    problems = [*parsed.problems, *(p for p in found if p.location not in said)]
    if problems:
        raise StateError.from_problems(source, [_with_source(p, source) for p in problems])
    return State(tuple(orgs), sha256)


def _parse_json(text: str, source: str, sha256: str, reuse: OrgReuse | None = None) -> State:
    """Check and build a JSON state one organization at a time (large states stay small)."""
    return _JsonParse(text, reuse).state(source, sha256)


class _JsonParse:
    """One read of a JSON state: each organization checked and built as it arrives."""

    def __init__(self, text: str, reuse: OrgReuse | None) -> None:
        self.text, self.reuse = text, reuse
        self.reader = JsonStateReader(text)
        self.checker = SemanticChecker(may_hold_surrogates(text))
        self.builder = TypedBuilder()
        self.problems: list[Problem] = []
        self.orgs: list[Organization] = []
        self.spans: list[Span] = []
        self.reused: list[Reused] = []
        self.counted = 0  # NaN and Infinity literals already located
        self.cursor = (0, 1)  # a position and its line, for the lines of problems

    def skip(self, index: int, start: int) -> int | None:
        """Where an organization a complete publish already checked ends (None: read it)."""
        found = self.reuse.match(self.text, start) if self.reuse is not None else None
        if found is None:
            return None
        self.reused.append(found[1])
        return found[0]

    def on_org(self, index: int, org: Any, start: int, end: int) -> None:
        if self.reuse is not None:
            self.spans.append(self.reuse.span(self.text, start, end))
        remember_keys(key_strings(org))
        prefix: Path_ = ("organizations", index)
        non_finite: list[tuple[Path_, str]] = []
        if self.reader.non_finite > self.counted:
            self.counted = self.reader.non_finite
            non_finite = list(non_finite_numbers(org, prefix))

        def lines() -> Parsed:
            # Organizations come in order: count line breaks from the last one counted.
            at, line = self.cursor
            self.cursor = (start, line + self.text.count("\n", at, start))
            return Parsed(lines=json_lines(self.text, start, prefix, self.cursor[1]))

        found = _org_problems(index, org, self.checker, non_finite, lines)
        self.problems.extend(named(p, [org] * (index + 1)) for p in found)
        if not self.problems:
            self.orgs.append(self.builder.org(org))

    def _top(self) -> None:
        """Read the whole text; check what is outside the organizations."""
        reader = self.reader
        reusing = self.reuse is not None and bool(self.reuse.index)
        try:
            top = reader.read(self.on_org, self.skip if reusing else None)
        except JsonSyntaxError as exc:
            self.problems.append(exc.problem)
            return
        if isinstance(top, dict) and reader.streamed:
            top = {**top, "organizations": []}
        _remember_keys(top)
        if top is None:
            self.problems.append(
                Problem("", "expected an object with `version` and `organizations`, got null", 1)
            )
            return
        extra = list(non_finite_numbers(top, ())) if reader.non_finite > self.counted else []
        found = _check(Parsed(top), escapes=False, extra=extra)
        if found:  # again, now with the line of each location
            found = _check(Parsed(top, json_lines(self.text, 0, ())), False, extra)
        self.problems += found

    def state(self, source: str, sha256: str) -> State:
        """The state, or every problem of it raised at once."""
        self._top()
        problems = [_with_source(p, source) for p in [*self.reader.problems, *self.problems]]
        if problems and self.reused:
            raise ReuseConflict("the state has problems")  # said with every organization read
        if problems:
            raise StateError.from_problems(source, problems)
        orgs = self.orgs
        if self.reuse is None:
            return State(tuple(orgs), sha256)
        if self.reused:
            keys = (k.key for org in orgs for k in org.api_keys)
            check_reused(self.reused, (org.id for org in orgs), keys, self.reuse.salt)
        return State(tuple(orgs), sha256, tuple(self.spans), tuple(self.reused))


def _org_problems(
    index: int,
    org: Any,
    checker: SemanticChecker,
    non_finite: list[tuple[Path_, str]],
    lines: Callable[[], Parsed],
) -> list[Problem]:
    """Return the problems of one organization of a JSON state, each with its line."""
    prefix: Path_ = ("organizations", index)
    errors = schema_errors("state#organization", org)
    semantic = checker.organization(index, org)  # once: it remembers ids and keys
    if not errors and not semantic and not non_finite:
        return []
    parsed = lines()
    found = [p for error in errors for p in schema_problem(parsed, error, prefix)]
    found += [
        Problem(format_path(path), message, line_of(parsed, path)) for path, message in semantic
    ]
    return _prefer(found, [Problem(format_path(p), m, line_of(parsed, p)) for p, m in non_finite])


def _prefer(found: list[Problem], non_finite: list[Problem]) -> list[Problem]:
    """A NaN or Infinity says what is wrong; the schema's complaint at the same place does not."""
    places = {p.location for p in non_finite}
    return [p for p in found if p.location not in places] + non_finite


def _with_source(problem: Problem, source: str) -> Problem:
    # The one place every problem of a state passes: no API key leaves it unlabelled.
    name = scrub(problem.name) if problem.name else None
    return Problem(scrub(problem.location), scrub(problem.message), problem.line, source, name)


def _remember_keys(data: Any) -> None:
    orgs = data.get("organizations") if isinstance(data, dict) else None
    for org in orgs if isinstance(orgs, list) else []:
        remember_keys(key_strings(org))


def _check(parsed: Parsed, escapes: bool, extra: Iterable[tuple[Path_, str]] = ()) -> list[Problem]:
    data = parsed.data
    if data is None:
        return [Problem("", "the file is empty: expected `version: 1` and `organizations`", 1)]
    found: list[Problem] = []
    for error in schema_errors("state", data):
        found += schema_problem(parsed, error)
    for path, message in check_semantics(data, escapes):
        found.append(Problem(format_path(path), message, line_of(parsed, path)))
    more = [Problem(format_path(p), m, line_of(parsed, p)) for p, m in extra]
    found = _prefer(found, more)
    return sorted(set(found), key=lambda p: (p.line or 0, p.location, p.message))
