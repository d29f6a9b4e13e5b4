"""Read a JSON state one organization at a time, so a large state is never held twice.

The top-level object is scanned by hand; each organization (and every other
top-level value) is decoded by the standard library's decoder and handed to a
callback, which keeps what it needs and lets the rest go.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import Problem

_WHITESPACE = " \t\n\r"


class JsonSyntaxError(Exception):
    def __init__(self, message: str, text: str, pos: int) -> None:
        super().__init__(message)
        self.problem = Problem(
            "",
            f"invalid JSON: {message} (column {pos - text.rfind(chr(10), 0, pos)})",
            text.count("\n", 0, pos) + 1,
        )


class JsonStateReader:
    """Decode `{"...": ..., "organizations": [org, ...]}` with one organization in memory."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.problems: list[Problem] = []
        self.streamed = False
        self._decoder = json.JSONDecoder(object_pairs_hook=self._pairs)

    def _pairs(self, items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) != len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    self.problems.append(Problem("", f"duplicate key {key!r} in a JSON object"))
                seen.add(key)
        return out

    def read(self, on_org: Callable[[int, Any], None]) -> Any:
        """Return the top-level value without its organizations; pass each one to `on_org`."""
        text = self.text
        pos = self._skip(0)
        if not text.startswith("{", pos):
            value, end = self._decode(pos)
            self._end(end)
            return value
        top: dict[str, Any] = {}
        pos = self._skip(pos + 1)
        if text.startswith("}", pos):
            self._end(pos + 1)
            return top
        while True:
            if not text.startswith('"', pos):
                raise JsonSyntaxError(
                    "Expecting property name enclosed in double quotes", text, pos
                )
            key, pos = self._decode(pos)
            pos = self._expect(":", pos)
            if key in top or (key == "organizations" and self.streamed):
                self.problems.append(Problem("", f"duplicate key {key!r} in a JSON object"))
            if key == "organizations" and text.startswith("[", pos):
                pos = self._organizations(pos + 1, on_org)
                self.streamed = True
            else:
                top[key], pos = self._decode(pos)
            pos = self._skip(pos)
            if text.startswith(",", pos):
                pos = self._skip(pos + 1)
                continue
            if text.startswith("}", pos):
                self._end(pos + 1)
                return top
            raise JsonSyntaxError("Expecting ',' delimiter", text, pos)

    def _organizations(self, pos: int, on_org: Callable[[int, Any], None]) -> int:
        text = self.text
        pos = self._skip(pos)
        if text.startswith("]", pos):
            return pos + 1
        index = 0
        while True:
            org, pos = self._decode(pos)
            on_org(index, org)
            del org
            index += 1
            pos = self._skip(pos)
            if text.startswith(",", pos):
                pos = self._skip(pos + 1)
            elif text.startswith("]", pos):
                return pos + 1
            else:
                raise JsonSyntaxError("Expecting ',' delimiter", text, pos)

    def _decode(self, pos: int) -> tuple[Any, int]:
        try:
            return self._decoder.raw_decode(self.text, pos)
        except json.JSONDecodeError as exc:
            raise JsonSyntaxError(exc.msg, self.text, exc.pos) from None

    def _skip(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        return pos

    def _expect(self, char: str, pos: int) -> int:
        pos = self._skip(pos)
        if not self.text.startswith(char, pos):
            raise JsonSyntaxError(f"Expecting '{char}' delimiter", self.text, pos)
        return self._skip(pos + 1)

    def _end(self, pos: int) -> None:
        pos = self._skip(pos)
        if pos != len(self.text):
            raise JsonSyntaxError("Extra data", self.text, pos)
