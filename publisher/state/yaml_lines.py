"""Parse YAML into plain data, noting the line of every mapping key and list item."""

from __future__ import annotations

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


def parse_yaml(text: str) -> Parsed:
    """Parse one YAML document, recording the line of every mapping key and list item."""
    parsed = Parsed()
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        parsed.problems.append(Problem("", f"invalid YAML: {what}", line))
        return parsed
    except yaml.YAMLError as exc:
        parsed.problems.append(Problem("", f"invalid YAML: {exc}"))
        return parsed
    if node is None:
        return parsed
    parsed.lines[()] = node.start_mark.line + 1
    parsed.data = _Builder(parsed).build(node, ())
    return parsed


class _Builder:
    """Turn composed YAML nodes into plain data while noting lines and duplicate keys."""

    def __init__(self, parsed: Parsed) -> None:
        self.parsed = parsed
        self.scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            return dict(self._pairs(node, path))
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.parsed.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index)))
            return items
        return self.scalars.construct_object(node)

    def _pairs(self, node: yaml.MappingNode, path: Path_) -> Iterator[tuple[str, Any]]:
        seen: set[str] = set()
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = (
                self.scalars.construct_object(key_node)
                if key_node.tag != "tag:yaml.org,2002:merge"
                else "<<"
            )
            if not isinstance(key, str):
                where = format_path(path) or "top level"
                self.parsed.problems.append(
                    Problem(where, f"mapping key {key!r} is not a string: quote it", line)
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
