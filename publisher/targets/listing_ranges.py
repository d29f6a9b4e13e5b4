"""A full listing in key ranges: side by side where the store answers requests together,
one chain where it answers them one after another.

A store far away (S3, R2: tens of ms a request) lists ranges side by side several
times as fast as one chain of pages. A local server bound by its own CPU (moto filters its whole
bucket for every page) answers them one after another, and every range's extra page
then costs a whole page. So the first range's first page is asked for alone, then the
other ranges' first pages at once: about as long as that one, the store answers them
together and the ranges go on side by side; several times as long (they waited for
one another), the rest is listed in one chain that skips what the ranges listed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from ..threads import Background

V = TypeVar("V")
Page = tuple[list[tuple[str, V]], bool]
"""One page of a listing: (name, what the caller keeps of it) in name order, and whether
more follow."""
Lister = Callable[[str | None], Page[V]]
"""The page of names after the given one (None: from the first)."""

TOGETHER = 2.0
"""The first pages of the ranges asked together, the slowest under this many times the
first range's own first page asked alone (or half as many times as there are ranges,
when more): the store answers requests together."""


def list_ranges(
    page: Lister[V], bounds: Sequence[str], together: bool | None = None
) -> tuple[dict[str, V], bool | None]:
    """Return name → ETag of every object, listing the ranges split at `bounds` (sorted
    names), and whether the store answered the ranges together (None: one range); any
    bounds list each object once. `together` decides instead of the times.

    Every range pages on from its first page at once; when the first pages show a store
    that answers one request at a time, the ranges stop after the page in flight and
    one chain lists the rest, jumping over what the ranges listed."""
    starts: list[str | None] = [None, *bounds]
    ends: list[str | None] = [*bounds, None]
    stop = threading.Event()
    if together is False and bounds:
        stop.set()
    ranges = [_Range(page, starts[0], ends[0], stop)]
    ranges[0].first.wait()  # alone: what one request costs
    ranges += [
        _Range(page, start, end, stop) for start, end in zip(starts[1:], ends[1:], strict=True)
    ]
    for each in ranges:
        each.first.wait()
    if together is None and bounds:
        # Answered one at a time (or on one busy CPU), n first pages asked together take
        # about n times as long as one alone; answered together, about as long.
        alone, most = ranges[0].took, max(each.took for each in ranges[1:])
        together = most < max(TOGETHER, len(ranges) / 2) * max(alone, 1e-4)
    if not together and bounds:
        stop.set()
    found: dict[str, V] = {}
    for each in ranges:
        found.update(each.result())
    if not together and bounds:
        found.update(_stitched(page, ranges))
    return found, together if bounds else None


class _Range(Generic[V]):
    """One range listed on a daemon thread: its first page timed, then page after page
    until past its end, or until `stop` is set (a request in flight completes)."""

    def __init__(
        self, page: Lister[V], start: str | None, end: str | None, stop: threading.Event
    ) -> None:
        self.start, self.end, self.stop = start, end, stop
        self.first = threading.Event()
        self.took = 0.0
        self.last = start
        """Every name in (start, last] is listed."""
        self.more = True
        """Names after `last` may exist (False: everything after `start` is listed)."""
        self._page = page
        self._found: dict[str, V] = {}
        self._run = Background(self._list)

    def result(self) -> dict[str, V]:
        self._run.result()
        return self._found

    def _list(self) -> bool:
        try:
            began = time.perf_counter()
            self._take(*self._page(self.start))
            self.took = time.perf_counter() - began
        finally:
            self.first.set()
        while self.more and not self.stop.is_set() and not self._past_end():
            assert self.last is not None
            self._take(*self._page(self.last))
        return True

    def _take(self, objects: list[tuple[str, V]], more: bool) -> None:
        self._found.update(objects)
        if objects:
            self.last = objects[-1][0]
        self.more = more and bool(objects)

    def _past_end(self) -> bool:
        return self.end is not None and self.last is not None and self.last > self.end


def _stitched(page: Lister[V], ranges: list[_Range[V]]) -> dict[str, V]:
    """One chain on from the first range, jumping over what each other range listed once
    the chain reaches where that range starts."""
    found: dict[str, V] = {}
    first = ranges[0]
    if not first.more:
        return found
    reached = first.last
    while True:
        assert reached is not None
        for other in ranges[1:]:
            assert other.start is not None
            if other.start <= reached:  # everything up to its start is listed: it follows on
                if not other.more:
                    return found  # it listed everything after its start
                if other.last is not None and other.last > reached:
                    reached = other.last
        objects, more = page(reached)
        found.update(objects)
        if not more or not objects:
            return found
        reached = objects[-1][0]
