"""The rules of SPEC section 2 that a JSON Schema cannot say, on raw parsed data.

The checks tolerate wrongly typed values (the schema reports those), so one run
reports every problem of a file at once.
"""

from __future__ import annotations

import math
import re
import unicodedata
import warnings
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from ..errors import Path_, format_path
from ..redact import INVISIBLE

WEIGHT_TOLERANCE = 1e-6

# Regex syntax Python accepts but JavaScript SDKs (which apply `url`) do not.
_PYTHON_ONLY = [
    (re.compile(r"\(\?P[<=>]"), "named groups `(?P<...>`: use `(?<name>...)`"),
    (re.compile(r"\\[AZ]"), "`\\A` or `\\Z`: use `^` and `$`"),
    (re.compile(r"\(\?#"), "inline comments `(?#...)`"),
    (re.compile(r"\(\?[aiLmsux]+\)"), "global inline flags such as `(?i)`"),
    (re.compile(r"\(\?>"), "atomic groups `(?>...)`"),
    (re.compile(r"(?<!\\)[*+?}][+]"), "possessive quantifiers such as `a++`"),
]

Found = Iterator[tuple[Path_, str]]


# A lone surrogate can only come from an escape (`\ud800`); most files have none.
_SURROGATE_ESCAPE = re.compile(r"\\(u|U0000)[dD][89a-fA-F]")


def may_hold_surrogates(text: str) -> bool:
    """True when the source text has an escape that can make a lone surrogate."""
    return _SURROGATE_ESCAPE.search(text) is not None


def check_semantics(data: Any, escapes: bool = True) -> list[tuple[Path_, str]]:
    """Return (path, message) for each semantic problem; `escapes`: look for lone surrogates."""
    if not isinstance(data, dict):
        return []
    checker = SemanticChecker(escapes)
    found = []
    for index, org in enumerate(_list(data.get("organizations"))):
        found += checker.organization(index, org)
    return found


class SemanticChecker:
    """Check organizations one at a time, remembering what must be unique across them."""

    def __init__(self, escapes: bool = True) -> None:
        self.escapes = escapes
        self.org_ids: dict[str, int] = {}
        self.api_keys: dict[str, tuple[int, int]] = {}

    def organization(self, index: int, org: Any) -> list[tuple[Path_, str]]:
        """Return the problems of `organizations[index]`."""
        if not isinstance(org, dict):
            return []
        path: Path_ = ("organizations", index)
        found = list(_strings(org, path)) if self.escapes else []
        found += _unique(org.get("id"), (*path, "id"), self.org_ids, index, "organization id", "")
        for j, key in _dicts(org.get("api_keys")):
            value = key.get("key")
            if isinstance(value, str) and value in self.api_keys:
                first = format_path(
                    (
                        "organizations",
                        self.api_keys[value][0],
                        "api_keys",
                        self.api_keys[value][1],
                        "key",
                    )
                )
                found.append(
                    (
                        (*path, "api_keys", j, "key"),
                        f"duplicate API key: already used at {first} "
                        "(keys are unique across all organizations)",
                    )
                )
            elif isinstance(value, str):
                self.api_keys[value] = (index, j)
        for j, hook in _dicts(org.get("webhooks")):
            url = hook.get("url")
            if isinstance(url, str):
                found += _webhook_url(url, (*path, "webhooks", j, "url"))
        exp_keys: dict[str, int] = {}
        for j, exp in _dicts(org.get("experiments")):
            exp_path: Path_ = (*path, "experiments", j)
            found += _unique(
                exp.get("key"),
                (*exp_path, "key"),
                exp_keys,
                j,
                "experiment key",
                " in this organization",
            )
            found += _experiment(exp, exp_path)
        return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, item in enumerate(_list(value)):
        if isinstance(item, dict):
            yield index, item


def _walk(value: Any, path: Path_) -> Iterator[tuple[Path_, Any]]:
    """Yield every (path, value) below `value`, without recursion (input may nest deeply)."""
    stack = [(path, value)]
    while stack:
        here, item = stack.pop()
        yield here, item
        if isinstance(item, dict):
            stack.extend(((*here, k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*here, i), v) for i, v in reversed(list(enumerate(item))))


def _strings(value: Any, path: Path_) -> Found:
    """Flag strings that cannot be encoded as UTF-8 (lone surrogates from JSON escapes)."""
    for here, item in _walk(value, path):
        texts = [item] if isinstance(item, str) else list(item) if isinstance(item, dict) else []
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                yield here, "contains an unpaired surrogate escape: it cannot be written as UTF-8"
                break


def non_finite_numbers(value: Any, path: Path_) -> Found:
    """Flag NaN and infinities (JSON's `NaN` and `Infinity`): no document can hold them."""
    for here, item in _walk(value, path):
        if isinstance(item, float) and not math.isfinite(item):
            yield here, "not a finite number (NaN or Infinity): JSON has no such number"


def _unique(
    value: Any, path: Path_, seen: dict[str, int], index: int, what: str, scope: str
) -> Found:
    if not isinstance(value, str):
        return
    if value.endswith("\n"):
        yield path, f"{what} must not end with a line break"
    yield from _invisible(value, path, what)
    # Two spellings of one text (composed and decomposed accents, full-width letters)
    # look the same to a person and to most SDK dashboards: they are one key.
    same = unicodedata.normalize("NFKC", value)
    if same in seen:
        also = "" if same == value else " (the same text after Unicode normalization)"
        yield (
            path,
            f"duplicate {what} {value!r}{scope}{also}: first used at index {seen[same]}",
        )
    else:
        seen[same] = index


def _invisible(value: str, path: Path_, what: str) -> Found:
    """An identifier with a character that shows as nothing, or turns the text around
    (zero-width space, word joiner, a bidi override, the combining grapheme joiner, a
    Hangul filler, a variation selector: Unicode's format and control characters and its
    default-ignorable ones): two keys that look alike would be two experiments."""
    if value.isascii() and value.isprintable():
        return  # the usual case, at once: no printable ASCII character is one of them
    hidden = next(
        (c for c in value if unicodedata.category(c) in ("Cf", "Cc") or INVISIBLE.match(c)),
        None,
    )
    if hidden is not None and not value.endswith("\n"):
        yield (
            path,
            f"{what} holds an invisible or direction-changing character "
            f"(U+{ord(hidden):04X}): write it without",
        )


def _experiment(exp: dict[str, Any], path: Path_) -> Found:
    variations = exp.get("variations")
    count = len(variations) if isinstance(variations, list) else None
    status = exp.get("status")
    phases = _list(exp.get("phases"))
    if status == "running" and isinstance(exp.get("phases", []), list) and not phases:
        yield (*path, "phases"), "a running experiment needs at least one phase"
    for k, phase in _dicts(phases):
        yield from _weights(phase.get("weights"), count, (*path, "phases", k, "weights"))
        for g, group in enumerate(_list(phase.get("groups"))):
            if isinstance(group, str):
                yield from _invisible(group, (*path, "phases", k, "groups", g), "a group")
    yield from _winner(exp.get("winner"), status, count, (*path, "winner"))
    url = exp.get("url")
    if isinstance(url, str) and url:
        yield from _url(url, (*path, "url"))


def _weights(weights: Any, count: int | None, path: Path_) -> Found:
    if not isinstance(weights, list):
        return
    if count is not None and len(weights) != count:
        yield (
            path,
            f"has {len(weights)} weights for {count} variations: give one weight per variation",
        )
    numbers = [w for w in weights if isinstance(w, int | float) and not isinstance(w, bool)]
    if len(numbers) == len(weights) and weights and all(math.isfinite(w) for w in numbers):
        total = math.fsum(numbers)
        if abs(total - 1) > WEIGHT_TOLERANCE:
            yield path, f"weights sum to {total:g}, not 1 (tolerance {WEIGHT_TOLERANCE:g})"


def _winner(winner: Any, status: Any, count: int | None, path: Path_) -> Found:
    if isinstance(winner, float) and winner.is_integer():
        winner = int(winner)  # JSON Schema's integer takes 5.0: so does this rule
    if not isinstance(winner, int) or isinstance(winner, bool):
        return
    if status != "stopped":
        yield path, f"winner is only allowed on a stopped experiment, this one is {status}"
    if count is not None and winner >= count:
        yield (
            path,
            f"winner {winner} is not a variation index: "
            f"there are {count} variations (0-{count - 1})",
        )


# JavaScript's named group `(?<name>` is Python's `(?P<name>`: compile the JS spelling.
_JS_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def _url(url: str, path: Path_) -> Found:
    for message in _url_problems(url):
        yield path, message


@lru_cache(maxsize=4096)
def _url_problems(url: str) -> tuple[str, ...]:
    """What is wrong with one URL pattern (states repeat patterns across organizations)."""
    return tuple(_url_messages(url))


def _url_messages(url: str) -> Iterator[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning for `[[`: said below if it fails
            re.compile(_JS_NAMED_GROUP.sub("(?P<", url))
    except re.error as exc:
        yield f"not a valid regular expression: {exc}"
        return
    except (OverflowError, RecursionError, ValueError):
        yield "not a valid regular expression: too large or nested too deeply"
        return
    for pattern, what in _PYTHON_ONLY:
        if pattern.search(url):
            yield f"uses Python-only regex syntax the SDKs cannot run: {what}"


def _webhook_url(url: str, path: Path_) -> Found:
    """A URL the sender can use: http(s), a host, a valid port, no control characters.

    Messages never quote the URL: its userinfo or query may hold a token.
    """
    if any(ord(c) < 32 or ord(c) == 127 or c.isspace() for c in url):
        yield path, "contains a space or a control character: percent-encode it"
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a port that is not a number in range)
    except ValueError:
        yield path, "is not a valid URL (check the host and port)"
        return
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        yield path, "must be an http:// or https:// URL with a host"
