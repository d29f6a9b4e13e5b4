"""The rules of SPEC section 2 that a JSON Schema cannot say, on raw parsed data.

The checks tolerate wrongly typed values (the schema reports those), so one run
reports every problem of a file at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from .sources import Path_, format_path

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


def check_semantics(data: Any) -> list[tuple[Path_, str]]:
    """Return (path, message) for each semantic problem of the state."""
    if not isinstance(data, dict):
        return []
    return [*_strings(data, ()), *_organizations(_list(data.get("organizations")))]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, item in enumerate(_list(value)):
        if isinstance(item, dict):
            yield index, item


def _strings(value: Any, path: Path_) -> Found:
    """Flag strings that cannot be encoded as UTF-8 (lone surrogates from JSON escapes)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            yield path, "contains an unpaired surrogate escape: it cannot be written as UTF-8"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _organizations(orgs: list[Any]) -> Found:
    org_ids: dict[str, int] = {}
    api_keys: dict[str, Path_] = {}
    for i, org in _dicts(orgs):
        org_path: Path_ = ("organizations", i)
        yield from _unique(org.get("id"), (*org_path, "id"), org_ids, i, "organization id", "")
        for j, key in _dicts(org.get("api_keys")):
            key_path: Path_ = (*org_path, "api_keys", j, "key")
            value = key.get("key")
            if isinstance(value, str) and value in api_keys:
                first = format_path(api_keys[value])
                yield (
                    key_path,
                    f"duplicate API key: already used at {first} "
                    "(keys are unique across all organizations)",
                )
            elif isinstance(value, str):
                api_keys[value] = key_path
        exp_keys: dict[str, int] = {}
        for j, exp in _dicts(org.get("experiments")):
            exp_path: Path_ = (*org_path, "experiments", j)
            yield from _unique(
                exp.get("key"),
                (*exp_path, "key"),
                exp_keys,
                j,
                "experiment key",
                " in this organization",
            )
            yield from _experiment(exp, exp_path)


def _unique(
    value: Any, path: Path_, seen: dict[str, int], index: int, what: str, scope: str
) -> Found:
    if not isinstance(value, str):
        return
    if value.endswith("\n"):
        yield path, f"{what} must not end with a line break"
    if value in seen:
        yield path, f"duplicate {what} {value!r}{scope}: first used at index {seen[value]}"
    else:
        seen[value] = index


def _experiment(exp: dict[str, Any], path: Path_) -> Found:
    variations = exp.get("variations")
    count = len(variations) if isinstance(variations, list) else None
    status = exp.get("status")
    phases = _list(exp.get("phases"))
    if status == "running" and isinstance(exp.get("phases", []), list) and not phases:
        yield (*path, "phases"), "a running experiment needs at least one phase"
    for k, phase in _dicts(phases):
        yield from _weights(phase.get("weights"), count, (*path, "phases", k, "weights"))
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


def _url(url: str, path: Path_) -> Found:
    try:
        re.compile(url)
    except re.error as exc:
        yield path, f"not a valid regular expression: {exc}"
        return
    for pattern, what in _PYTHON_ONLY:
        if pattern.search(url):
            yield path, f"uses Python-only regex syntax the SDKs cannot run: {what}"
