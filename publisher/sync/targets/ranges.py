"""A full listing in key ranges: side by side where the store answers requests together,
one chain where it answers them one after another.

A store far away (S3, R2: ~30 ms a request) lists ranges side by side several times as
fast as one chain of pages. A local server bound by its own CPU (moto filters its whole
bucket for every page) answers them one after another, and every range's extra page
then costs a whole page. So the first page of every range is asked for at once, and
each request's own time tells which store this is: all about as long as one another,
the ranges go on side by side; some several times longer (they waited for the others),
the rest is listed in one chain that skips what those first pages already listed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial

from ...threads import side_by_side

Page = tuple[list[tuple[str, str]], bool]
"""One page of a listing: (name, ETag) in name order, and whether more follow."""
Lister = Callable[[str | None], Page]
"""The page of names after the given one (None: from the first)."""

TOGETHER = 2.0
"""The slowest first page under this many times the fastest: the store answers
requests together."""


def list_ranges(
    page: Lister, bounds: Sequence[str], together: bool | None = None
) -> tuple[dict[str, str], bool | None]:
    """Return name → ETag of every object, listing the ranges split at `bounds` (sorted
    names), and whether the store answered the ranges together (None: one range); any
    bounds list each object once. `together` decides instead of the times."""
    starts: list[str | None] = [None, *bounds]
    firsts = side_by_side([partial(_timed, page, start) for start in starts])
    found: dict[str, str] = {}
    for (objects, _), _took in firsts:
        found.update(objects)
    took = [t for _, t in firsts]
    if together is None:
        together = max(took) < TOGETHER * max(min(took), 1e-4)
    if len(starts) == 1 or together:
        ends: list[str | None] = [*bounds, None]
        chains = [
            partial(_chain, page, first, end) for (first, _), end in zip(firsts, ends, strict=True)
        ]
        for part in side_by_side(chains):
            found.update(part)
    else:
        found.update(_stitched(page, starts, [first for first, _ in firsts]))
    return found, together if len(starts) > 1 else None


def _timed(page: Lister, start: str | None) -> tuple[Page, float]:
    began = time.perf_counter()
    result = page(start)
    return result, time.perf_counter() - began


def _chain(page: Lister, first: Page, end: str | None) -> dict[str, str]:
    """Page on from a range's first page until past its end (the next range's start)."""
    found: dict[str, str] = {}
    objects, more = first
    while more and objects and (end is None or objects[-1][0] <= end):
        objects, more = page(objects[-1][0])
        found.update(objects)
    return found


def _stitched(page: Lister, starts: list[str | None], firsts: list[Page]) -> dict[str, str]:
    """One chain from the first range's first page, jumping over what each other range's
    first page listed once the chain reaches where that range starts."""
    found: dict[str, str] = {}
    objects, more = firsts[0]
    if not more:
        return found
    reached = objects[-1][0] if objects else None
    while True:
        assert reached is not None
        for start, (listed, after) in zip(starts[1:], firsts[1:], strict=True):
            assert start is not None
            if start <= reached:  # everything up to `start` is listed: its page follows on
                if not after:
                    return found  # that page listed everything after `start`
                if listed and listed[-1][0] > reached:
                    reached = listed[-1][0]
        objects, more = page(reached)
        found.update(objects)
        if not more or not objects:
            return found
        reached = objects[-1][0]
