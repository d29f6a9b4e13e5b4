"""Hand a YAML state's organizations over one at a time, as the JSON reader does.

Each organization is given, with the lines of its own locations, to a callback the
moment its last event arrives, and is not kept: a large state never holds all its
organizations, or all their lines, at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import Path_, Problem
from .yaml_build import Builder, _Frame

OnOrg = Callable[[int, Any, dict[Path_, int]], None]


class StreamingBuilder(Builder):
    """A Builder that streams the items of the top-level `organizations` list."""

    def __init__(
        self, lines: dict[Path_, int], problems: list[Problem], budget: int, on_org: OnOrg
    ) -> None:
        super().__init__(lines, problems, budget)
        self.on_org = on_org
        self.orgs: _Frame | None = None
        """The `organizations` list while it streams (None: it is not a list at the top)."""
        self._outer: dict[Path_, int] | None = None
        self._org_lines: dict[Path_, int] | None = None

    @property
    def streamed(self) -> bool:
        return self.orgs is not None

    def _open_event(self, event: Any, line: int, is_map: bool) -> int:
        parent = self._stack[-1] if self._stack else None
        skip = super()._open_event(event, line, is_map)
        if skip:
            return skip
        frame = self._stack[-1]
        if len(self._stack) == 2 and not is_map and frame.path == ("organizations",):
            self.orgs = frame
        elif parent is not None and parent is self.orgs:
            self._outer, self.lines = self.lines, {}  # this organization's own lines
        return 0

    def _close(self, line: int) -> None:
        if self.orgs is not None and len(self._stack) >= 2 and self._stack[-2] is self.orgs:
            assert self._outer is not None
            self._org_lines, self.lines, self._outer = self.lines, self._outer, None
        super()._close(line)

    def _place(self, value: Any, line: int, size: int, charge: int = 1) -> None:
        top = self._stack[-1] if self._stack else None
        if top is None or top is not self.orgs:
            super()._place(value, line, size, charge)
            return
        index = len(top.value)
        lines, self._org_lines = self._org_lines or {}, None
        lines[(*top.path, index)] = line
        super()._place(None, line, size, charge)  # a place kept; the organization handed on
        self.on_org(index, value, lines)
