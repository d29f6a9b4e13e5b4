"""Read a JSON state one organization at a time, so a large state is never held twice.

The top-level object is scanned by hand; each organization (and every other
top-level value) is decoded by the standard library's decoder and handed to a
callback, which keeps what it needs and lets the rest go.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..errors import Path_, Problem
from ..redact import key_label
from ..schemas import FIELD_NAMES

_WHITESPACE = " \t\n\r"
_LONG_NUMBER = re.compile(r"[0-9]{4300,}")


def _shown(name: str) -> str:
    """A duplicated name as it may be shown: a key-like one (it may be an API key) labelled."""
    return repr(name if name in FIELD_NAMES or len(name) < 8 else key_label(name))


class JsonSyntaxError(Exception):
    def __init__(self, message: str, text: str, pos: int) -> None:
        super().__init__(message)
        self.problem = Problem(
            "",
            f"invalid JSON: {message} (column {pos - text.rfind(chr(10), 0, pos)})",
            text.count("\n", 0, pos) + 1,
        )


OnOrg = Callable[[int, Any, int, int], None]
Skip = Callable[[int, int], int | None]


class JsonStateReader:
    """Decode `{"...": ..., "organizations": [org, ...]}` with one organization in memory."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.problems: list[Problem] = []
        self.streamed = False
        self.non_finite = 0
        """How many NaN or Infinity literals were read (JSON has no such numbers)."""
        self._decoder = json.JSONDecoder(
            object_pairs_hook=self._pairs, parse_constant=self._constant
        )

    def _constant(self, name: str) -> float:
        self.non_finite += 1
        return float(name)

    def _pairs(self, items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) != len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    self.problems.append(
                        Problem("", f"duplicate key {_shown(key)} in a JSON object")
                    )
                seen.add(key)
        return out

    def read(self, on_org: OnOrg, skip: Skip | None = None) -> Any:
        """Return the top-level value without its organizations; pass each one to `on_org`
        with its index and the positions where its text starts and ends.

        `skip(index, start)` may return where the organization at `start` ends: it is then
        not decoded (its text is one already checked, see reuse.py)."""
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
                self.problems.append(Problem("", f"duplicate key {_shown(key)} in a JSON object"))
            if key == "organizations" and text.startswith("[", pos):
                pos = self._organizations(pos + 1, on_org, skip)
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

    def _organizations(self, pos: int, on_org: OnOrg, skip: Skip | None) -> int:
        text = self.text
        pos = self._skip(pos)
        if text.startswith("]", pos):
            return pos + 1
        index = 0
        while True:
            start = pos
            end = skip(index, pos) if skip is not None else None
            if end is not None:
                pos = end
            else:
                org, pos = self._decode(pos)
                on_org(index, org, start, pos)
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
        except RecursionError:
            raise JsonSyntaxError("nested too deeply", self.text, pos) from None
        except ValueError:  # an integer past Python's limit of 4,300 digits
            found = _LONG_NUMBER.search(self.text, pos)
            where = found.start() if found else pos
            raise JsonSyntaxError("a number of over 4,300 digits", self.text, where) from None

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


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


def json_lines(text: str, start: int, prefix: Path_, line: int | None = None) -> dict[Path_, int]:
    """Return the line of every value of the JSON value at `start`, by path under `prefix`.

    Run only when a value has problems (the decoder gives no positions), so that JSON
    problems carry a line as YAML ones do. Assumes well-formed JSON (it was decoded).
    """
    lines: dict[Path_, int] = {}
    if line is None:  # the line `start` is on, when the caller does not keep count
        line = text.count("\n", 0, start) + 1
    last = start
    # Each open container: [path, is_object, current key or index, expecting a key]
    stack: list[list[Any]] = []
    path: Path_ = prefix
    for match in _TOKENS.finditer(text, start):
        token = match.group()
        line += text.count("\n", last, match.start())
        last = match.start()
        top = stack[-1] if stack else None
        if top is not None and top[1] and top[3] and token.startswith('"'):
            top[2] = json.loads(token)
            top[3] = False
            continue
        if token in (":", ","):
            if token == "," and top is not None:
                if top[1]:
                    top[3] = True
                else:
                    top[2] += 1
            continue
        if token in ("}", "]"):
            stack.pop()
            if not stack:
                break
            continue
        if top is not None:
            path = (*top[0], top[2])
        lines[path] = line
        if token in ("{", "["):
            stack.append([path, token == "{", 0, token == "{"])
        elif not stack:
            break
    return lines
