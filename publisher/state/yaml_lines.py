"""Parse YAML into plain data, noting the line of every mapping key and list item."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import Path_, Problem
from .yaml_build import Builder, Exhausted, events
from .yaml_stream import OnOrg, StreamingBuilder


@dataclass
class Parsed:
    """Plain data parsed from a file, the line of each location, and the problems found."""

    data: Any = None
    lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    streamed: bool = False
    """The organizations were handed over one at a time, and are not in `data`."""


def line_of(parsed: Parsed, path: Path_) -> int | None:
    """Return the line of `path`, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        line = parsed.lines.get(path[:end])
        if line is not None:
            return line
    return None


def parse_yaml(text: str, on_org: OnOrg | None = None, parsed: Parsed | None = None) -> Parsed:
    """Parse one YAML document, recording the line of every mapping key and list item.

    Only plain data is built (text, numbers, true/false, null, lists, mappings), nesting
    is bounded, and aliases may not expand the document past twice its size. The data is
    built straight from libyaml's events: no node graph of the whole file is held. With
    `on_org`, each item of the top-level `organizations` list is handed to it (with the
    lines of its locations) as soon as it is complete, and not kept; `parsed.streamed`
    says whether that happened.
    """
    parsed = parsed or Parsed()
    budget = 2 * len(text) + 10_000
    builder = (
        Builder(parsed.lines, parsed.problems, budget)
        if on_org is None
        else StreamingBuilder(parsed.lines, parsed.problems, budget, on_org)
    )
    try:
        parsed.data = builder.run(events(text))
    except yaml.MarkedYAMLError as exc:
        parsed.data = None
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p).replace("\n", " ")
        parsed.problems.append(Problem("", f"invalid YAML: {what}", line))
    except yaml.YAMLError as exc:
        parsed.data = None
        parsed.problems.append(Problem("", f"invalid YAML: {exc}".replace("\n", " ")))
    except Exhausted as exc:
        parsed.data = None
        parsed.problems.append(
            Problem(
                "",
                f"aliases (*name) expand the document past {builder.budget:,} values: "
                "repeat less through aliases",
                exc.line,
            )
        )
    parsed.streamed = isinstance(builder, StreamingBuilder) and builder.streamed
    return parsed
