"""How long-running work reports its progress: phases with counts. The library only calls these;
the command line draws them (on a terminal), a library caller may ignore them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

PHASES = ("load", "list", "upload", "delete", "purge", "webhooks")


class Progress(Protocol):
    """Receives each phase's start, advances and end."""

    def start(self, phase: str, total: int | None = None) -> None:
        """A phase begins; `total` is how many items it has, when known."""
        ...

    def advance(self, phase: str, count: int = 1) -> None:
        """`count` more items of the phase are done."""
        ...

    def finish(self, phase: str) -> None:
        """The phase is over."""
        ...


class Silent:
    """Progress that goes nowhere (the default)."""

    def start(self, phase: str, total: int | None = None) -> None:
        pass

    def advance(self, phase: str, count: int = 1) -> None:
        pass

    def finish(self, phase: str) -> None:
        pass


@dataclass
class Span:
    """One run of a phase: when it started and ended (seconds from the stopwatch's start;
    `end` None: it was still running when the work stopped) and how many items it had."""

    phase: str
    start: float
    end: float | None = None
    total: int | None = None
    done: int = 0


class Stopwatch:
    """Progress that times every phase and passes each call on to another Progress."""

    def __init__(self, inner: Progress | None = None, clock: Callable[[], float] = time.monotonic):
        self._inner = inner or Silent()
        self._clock = clock
        self._zero = clock()
        self.spans: list[Span] = []

    def elapsed(self) -> float:
        return self._clock() - self._zero

    def _open(self, phase: str) -> Span | None:
        return next((s for s in reversed(self.spans) if s.phase == phase and s.end is None), None)

    def start(self, phase: str, total: int | None = None) -> None:
        if self._open(phase) is None:  # a phase started again after it ended: a new span
            self.spans.append(Span(phase, self.elapsed(), total=total))
        self._inner.start(phase, total)

    def advance(self, phase: str, count: int = 1) -> None:
        span = self._open(phase)
        if span is not None:
            span.done += count
        self._inner.advance(phase, count)

    def finish(self, phase: str) -> None:
        span = self._open(phase)
        if span is not None:
            span.end = self.elapsed()
        self._inner.finish(phase)


@contextmanager
def timed(what: str, log: logging.Logger) -> Iterator[None]:
    """Log how long a step took (shown with --verbose) on the logger of its stage."""
    start = time.perf_counter()
    yield
    log.info("%s in %.2f s", what, time.perf_counter() - start)
