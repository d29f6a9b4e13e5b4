"""Parse YAML into plain data, noting the line of every mapping key and list item."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import Path_, Problem, format_path

try:  # libyaml is ten times faster on large states; the pure loader gives the same nodes
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,misc,unused-ignore]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader


@dataclass
class Parsed:
    """Plain data parsed from a file, the line of each location, and the problems found."""

    data: Any = None
    lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def line_of(parsed: Parsed, path: Path_) -> int | None:
    """Return the line of `path`, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        line = parsed.lines.get(path[:end])
        if line is not None:
            return line
    return None


MAX_DEPTH = 64
"""Deeper than any state needs (it has 7 levels); deeper input is refused, not recursed into."""

MAX_DIGITS = 30
"""The longest integer accepted; Python refuses to even read one of 4,300 digits."""

_STR, _INT, _FLOAT, _BOOL, _NULL = (
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null")
)
_MERGE = "tag:yaml.org,2002:merge"
_NOT_DATA = {
    "tag:yaml.org,2002:timestamp": "is a date or a time: quote it to make it text",
    "tag:yaml.org,2002:binary": "is binary data (!!binary): only text, numbers, true/false "
    "and null are allowed",
}


class _Exhausted(Exception):
    """Aliases expanded past the budget: a billion-laughs document, or close to one."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def parse_yaml(text: str) -> Parsed:
    """Parse one YAML document, recording the line of every mapping key and list item.

    Only plain data is built (text, numbers, true/false, null, lists, mappings), nesting
    is bounded, and aliases may not expand the document past twice its size.
    """
    parsed = Parsed()
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p).replace("\n", " ")
        parsed.problems.append(Problem("", f"invalid YAML: {what}", line))
        return parsed
    except yaml.YAMLError as exc:
        parsed.problems.append(Problem("", f"invalid YAML: {exc}".replace("\n", " ")))
        return parsed
    except RecursionError:
        parsed.problems.append(Problem("", f"nested deeper than {MAX_DEPTH} levels"))
        return parsed
    if node is None:
        return parsed
    parsed.lines[()] = node.start_mark.line + 1
    builder = _Builder(parsed, budget=2 * len(text) + 10_000)
    try:
        parsed.data = builder.build(node, ())
    except _Exhausted as exc:
        parsed.data = None
        parsed.problems.append(
            Problem(
                "",
                f"aliases (*name) expand the document past {builder.budget:,} values: "
                "repeat less through aliases",
                exc.line,
            )
        )
    return parsed


class _Builder:
    """Turn composed YAML nodes into plain data while noting lines and duplicate keys."""

    def __init__(self, parsed: Parsed, budget: int) -> None:
        self.parsed = parsed
        self.scalars = yaml.constructor.SafeConstructor()
        self.budget = budget
        self._left = budget
        self._open: set[int] = set()  # collections being built: an alias to one is a loop

    def _problem(self, path: Path_, message: str, node: yaml.Node) -> None:
        where = format_path(path) or "top level"
        self.parsed.problems.append(Problem(where, message, node.start_mark.line + 1))

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self._left -= 1
        if self._left < 0:
            raise _Exhausted(node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if len(path) >= MAX_DEPTH:
            self._problem(path, f"nested deeper than {MAX_DEPTH} levels", node)
            return None
        if id(node) in self._open:
            self._problem(path, "an alias refers to a list or mapping that contains it", node)
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return dict(self._pairs(node, path))
            items = []
            for index, item in enumerate(node.value):
                self.parsed.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index)))
            return items
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag in (_INT, _FLOAT, _BOOL, _NULL):
            if tag == _INT and len(node.value) > MAX_DIGITS:
                self._problem(path, f"a number of over {MAX_DIGITS} digits", node)
                return None
            value = self.scalars.construct_object(node)
            if tag == _FLOAT and not math.isfinite(value):
                self._problem(path, "not a finite number (NaN or infinity)", node)
                return None
            return value
        self._problem(
            path,
            _NOT_DATA.get(tag)
            or f"has the tag {tag.replace('tag:yaml.org,2002:', '!!')}: only text, numbers, "
            "true/false and null are allowed (quote it to make it text)",
            node,
        )
        return None

    def _pairs(self, node: yaml.MappingNode, path: Path_) -> Iterator[tuple[str, Any]]:
        seen: set[str] = set()
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE:
                key: Any = "<<"
            elif isinstance(key_node, yaml.ScalarNode):
                key = self._scalar(key_node, path)
            else:
                key = None
            if not isinstance(key, str):
                where = format_path(path) or "top level"
                self.parsed.problems.append(
                    Problem(where, "a mapping key is not text: quote it", line)
                )
                continue
            child = (*path, key)
            if key in seen:
                self.parsed.problems.append(
                    Problem(format_path(child), "duplicate key: it is given twice", line)
                )
            seen.add(key)
            self.parsed.lines[child] = line
            yield key, self.build(value_node, child)
