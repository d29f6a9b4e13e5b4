"""`publish --wait-edge URL`: after the purge, poll the edge until it serves what changed.

Each changed document is fetched from the edge until it serves the new bytes (a
deleted one: until it answers 404), every `POLL_EVERY` seconds, up to a deadline. The
time each took is reported (median and max); what is still stale at the deadline is
named by the caller, by label.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
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


def wait_for_edge(
    edge: str,
    expected: Mapping[str, tuple[str, bytes | None]],
    timeout: float,
    fetch: Callable[[str], Response] = get,
    clock: Callable[[], float] = time.monotonic,
) -> EdgeWait:
    """Poll `edge` for each key's (path, bytes) until served or `timeout` passes."""
    base, start = edge.rstrip("/"), clock()
    result = EdgeWait(edge)
    waiting = dict(expected)

    def check(key: str) -> bool:
        path, body = waiting[key]
        try:
            return fresh(fetch(base + path), body)
        except StorageError as exc:  # unreachable for now: asked again until the deadline
            result.error = exc.message
            return False

    with ThreadPoolExecutor(WORKERS) as pool:
        while waiting:
            keys = sorted(waiting)
            done = list(pool.map(check, keys))
            now = clock() - start
            for key, ok in zip(keys, done, strict=True):
                if ok:
                    result.seconds[key] = now
                    del waiting[key]
            if waiting and now >= timeout:
                result.stale = sorted(waiting)
                break
            if waiting:
                time.sleep(min(POLL_EVERY, max(0.0, timeout - now)))
    return result
