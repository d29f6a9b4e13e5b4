"""Build plain data from libyaml's events: text, numbers, true/false, null, lists and
mappings only, with the line of every location, bounded aliases and depth."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import yaml

from ..errors import Path_, Problem, format_path

try:  # libyaml is ten times faster on large states; the pure parser gives the same events
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,misc,unused-ignore]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

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


class Exhausted(Exception):
    """Aliases expanded past the budget: a billion-laughs document, or close to one."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def events(text: str) -> Iterator[Any]:
    """libyaml's events, one call each (yaml.parse asks check_event first, twice the calls)."""
    loader = _Loader(text)
    try:
        while True:
            event = loader.get_event()  # type: ignore[no-untyped-call]
            yield event
            if type(event) is yaml.StreamEndEvent:
                return
    finally:
        loader.dispose()


class _Frame:
    """An open list or mapping while its events arrive."""

    __slots__ = (
        "anchor", "is_map", "key", "key_line", "line", "path", "size", "skip", "value",
    )  # fmt: skip

    def __init__(self, value: Any, path: Path_, anchor: str | None, line: int) -> None:
        self.value = value
        self.line = line
        self.path = path
        self.anchor = anchor
        self.is_map = isinstance(value, dict)
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.size = 1
        self.skip = False  # the value of a key that was refused


_NO_KEY = object()


class Builder:
    """Turn libyaml's events into plain data while noting lines and duplicate keys."""

    def __init__(self, lines: dict[Path_, int], problems: list[Problem], budget: int) -> None:
        self.lines = lines
        self.problems = problems
        self.resolver = yaml.resolver.Resolver()
        self.scalars = yaml.constructor.SafeConstructor()
        self.budget = budget
        self._left = budget
        self._stack: list[_Frame] = []
        self._anchors: dict[str, tuple[Any, int, int]] = {}  # name -> (value, size, line)
        self._open: set[str] = set()  # anchors of collections being built
        self._tags: dict[tuple[str, tuple[bool, bool]], str] = {}
        self._values: dict[tuple[str, str], Any] = {}
        self._root: Any = None

    def _problem(self, path: Path_, message: str, line: int) -> None:
        where = format_path(path) or "top level"
        self.problems.append(Problem(where, message, line))

    def run(self, events: Iterator[Any]) -> Any:
        documents = 0
        skipping = 0  # depth inside a subtree that is refused as a whole
        for event in events:
            kind = type(event)
            line = event.start_mark.line + 1
            if skipping:
                if kind in (yaml.MappingStartEvent, yaml.SequenceStartEvent):
                    skipping += 1
                elif kind in (yaml.MappingEndEvent, yaml.SequenceEndEvent):
                    skipping -= 1
                    if not skipping:
                        self._place(None, line, 1)
                continue
            if kind is yaml.ScalarEvent:
                if not (self._stack and self._plain_text(event, line)):
                    self._scalar_event(event, line)
            elif kind in (yaml.MappingStartEvent, yaml.SequenceStartEvent):
                skipping = self._open_event(event, line, kind is yaml.MappingStartEvent)
            elif kind in (yaml.MappingEndEvent, yaml.SequenceEndEvent):
                self._close(line)
            elif kind is yaml.AliasEvent:
                self._alias(event, line)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise yaml.composer.ComposerError(
                        "expected a single document in the stream",
                        None,
                        "but found another document",
                        event.start_mark,
                    )
        return self._root

    def _plain_text(self, event: Any, line: int) -> bool:
        """The common case, short: an untagged, unanchored text inside a collection.
        Return False for anything else (the general path handles it)."""
        if event.tag is not None or event.anchor is not None:
            return False
        text = event.value
        if self._tags.get((text, event.implicit)) != _STR:
            return False
        top = self._stack[-1]
        if top.is_map and top.key is _NO_KEY:
            top.key, top.key_line = text, line
        else:
            self._place(text, line, 1)
        return True

    def _child_path(self) -> tuple[Path_, bool]:
        """The path the next value goes to, and whether it is a mapping key."""
        if not self._stack:
            return (), False
        top = self._stack[-1]
        if top.is_map:
            if top.key is _NO_KEY:
                return top.path, True
            return (*top.path, top.key), False
        return (*top.path, len(top.value)), False

    def _place(self, value: Any, line: int, size: int, charge: int = 1) -> None:
        """Put a finished value where it belongs: the root, a list, or a mapping.

        `size` is how many values it stands for (an alias: all of its anchor's); `charge`
        what it costs the budget now (a closed list or mapping: itself, its items were
        charged as they came)."""
        self._left -= charge
        if self._left < 0:
            raise Exhausted(line)
        if not self._stack:
            self._root = value
            self.lines[()] = line
            return
        top = self._stack[-1]
        top.size += size
        if not top.is_map:
            self.lines[(*top.path, len(top.value))] = line
            top.value.append(value)
            return
        key, top.key = top.key, _NO_KEY
        if top.skip:
            top.skip = False
            return
        child = (*top.path, key)
        if key in top.value:
            self.problems.append(
                Problem(format_path(child), "duplicate key: it is given twice", top.key_line)
            )
        self.lines[child] = top.key_line
        top.value[key] = value

    def _set_key(self, key: Any, line: int) -> None:
        top = self._stack[-1]
        top.key_line = line
        if isinstance(key, str):
            top.key = key
            return
        where = format_path(top.path) or "top level"
        self.problems.append(Problem(where, "a mapping key is not text: quote it", line))
        top.key, top.skip = None, True

    def _scalar_event(self, event: Any, line: int) -> None:
        path, is_key = self._child_path()
        tag = event.tag
        if tag is None or tag == "!":
            cache = (event.value, event.implicit)
            tag = self._tags.get(cache)
            if tag is None:
                tag = self._tags[cache] = self.resolver.resolve(  # type: ignore[no-untyped-call]
                    yaml.ScalarNode, event.value, event.implicit
                )
        if is_key and tag == _MERGE:
            value: Any = "<<"
        else:
            value = self._scalar(tag, event.value, path, line)
        if event.anchor is not None:
            self._anchor(event.anchor, value, 1, event)
        if is_key:
            self._set_key(value, line)
        else:
            self._place(value, line, 1)

    def _scalar(self, tag: str, text: str, path: Path_, line: int) -> Any:
        if tag == _STR:
            return text
        if tag in (_INT, _FLOAT, _BOOL, _NULL):
            if tag == _INT and len(text) > MAX_DIGITS:
                self._problem(path, f"a number of over {MAX_DIGITS} digits", line)
                return None
            value = self._values.get((tag, text), _NO_KEY)
            if value is _NO_KEY:
                node = yaml.ScalarNode(tag, text)
                value = self._values[(tag, text)] = self.scalars.construct_object(node)
            if tag == _FLOAT and not math.isfinite(value):
                self._problem(path, "not a finite number (NaN or infinity)", line)
                return None
            return value
        self._problem(
            path,
            _NOT_DATA.get(tag)
            or f"has the tag {tag.replace('tag:yaml.org,2002:', '!!')}: only text, numbers, "
            "true/false and null are allowed (quote it to make it text)",
            line,
        )
        return None

    def _open_event(self, event: Any, line: int, is_map: bool) -> int:
        """Open a list or mapping; return 1 when its whole subtree is to be skipped."""
        path, is_key = self._child_path()
        if is_key:
            self._set_key(None, line)  # a list or mapping as a key: refused, and its value
            return 1
        if len(path) >= MAX_DEPTH:
            self._problem(path, f"nested deeper than {MAX_DEPTH} levels", line)
            return 1
        frame = _Frame({} if is_map else [], path, event.anchor, line)
        if event.anchor is not None:
            self._anchor(event.anchor, frame.value, 0, event)
            self._open.add(event.anchor)
        self._stack.append(frame)
        return 0

    def _close(self, line: int) -> None:
        frame = self._stack.pop()
        if frame.anchor is not None:
            self._open.discard(frame.anchor)
            value, _, first = self._anchors[frame.anchor]
            self._anchors[frame.anchor] = (value, frame.size, first)
        self._place(frame.value, frame.line, frame.size)

    def _anchor(self, name: str, value: Any, size: int, event: Any) -> None:
        if name in self._anchors:
            raise yaml.composer.ComposerError(
                f"found duplicate anchor {name!r}; first occurrence",
                None,
                "second occurrence",
                event.start_mark,
            )
        self._anchors[name] = (value, size, event.start_mark.line + 1)

    def _alias(self, event: Any, line: int) -> None:
        path, is_key = self._child_path()
        found = self._anchors.get(event.anchor)
        if found is None:
            raise yaml.composer.ComposerError(
                None, None, f"found undefined alias {event.anchor!r}", event.start_mark
            )
        value, size, _ = found
        if event.anchor in self._open:
            self._problem(path, "an alias refers to a list or mapping that contains it", line)
            value, size = None, 1
        if is_key:
            self._set_key(value, line)
        else:
            self._place(value, line, max(size, 1), charge=max(size, 1))
