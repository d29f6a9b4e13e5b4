"""`publish --wait-edge URL`: after the purge, poll the edge until it serves what changed.

Each changed document is fetched from the edge until it serves the new bytes (a
deleted one: until it answers 404), every `POLL_EVERY` seconds, up to a deadline. The
time each took is reported (median and max); what is still stale at the deadline is
named by the caller, by label.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import StorageError
from ..fetch import Response, get

POLL_EVERY = 0.2
WORKERS = 16


@dataclass
class EdgeWait:
    """How long each changed document took to show at one edge."""

    edge: str
    seconds: dict[str, float] = field(default_factory=dict)
    """Key → seconds from the start of the wait until the edge served the new bytes."""
    stale: list[str] = field(default_factory=list)
    """Keys the edge still served old bytes for at the deadline."""
    error: str | None = None
    """The last reason the edge could not be asked (it is asked again until the deadline)."""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds.values()) if self.seconds else 0.0

    @property
    def most(self) -> float:
        return max(self.seconds.values(), default=0.0)


def fresh(response: Response, expected: bytes | None) -> bool:
    """Whether the edge serves what was published (None: the document was deleted)."""
    if expected is None:
        return response.status in (403, 404)
    return response.status == 200 and response.body == expected


def wait_for_edges(
    edges: Sequence[str],
    expected: Mapping[str, tuple[str, bytes | None]],
    timeout: float,
    fetch: Callable[[str, float], Response] | None = None,
) -> list[EdgeWait]:
    """Poll every edge, side by side, for each key's (path, bytes) until served; `timeout`
    seconds is one deadline for the whole wait, however slowly an edge answers."""
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(max(1, len(edges))) as pool:
        return list(pool.map(lambda e: wait_for_edge(e, expected, deadline, fetch), edges))


def _get(url: str, timeout: float) -> Response:
    return get(url, timeout=timeout)


def wait_for_edge(
    edge: str,
    expected: Mapping[str, tuple[str, bytes | None]],
    deadline: float,
    fetch: Callable[[str, float], Response] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> EdgeWait:
    """Poll `edge` for each key's (path, bytes) until served or the `deadline` (of `clock`)
    passes: no request outlives it."""
    fetch = fetch or _get
    base, start = edge.rstrip("/"), clock()
    result = EdgeWait(edge)
    waiting = dict(expected)

    def check(key: str) -> bool:
        path, body = waiting[key]
        left = deadline - clock()
        if left <= 0:
            return False
        try:
            return fresh(fetch(base + path, min(left, 10.0)), body)
        except StorageError as exc:  # unreachable for now: asked again until the deadline
            result.error = exc.message
            return False

    with ThreadPoolExecutor(WORKERS) as pool:
        while waiting:
            keys = sorted(waiting)
            done = list(pool.map(check, keys))
            now = clock()
            for key, ok in zip(keys, done, strict=True):
                if ok:
                    result.seconds[key] = now - start
                    del waiting[key]
            if waiting and now >= deadline:
                result.stale = sorted(waiting)
                break
            if waiting:
                time.sleep(min(POLL_EVERY, max(0.0, deadline - now)))
    return result
