"""Work on daemon threads: an exit (an invalid state, Ctrl-C) never waits for it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """Run one call on a daemon thread (an invalid state must not wait for a listing)."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:
            self._error = exc

    def result(self) -> T:
        """Wait for the call; return its value or raise its error."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def side_by_side(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run each call on a daemon thread of its own and return their values in order;
    raise the first error. Daemon threads: an exit (an invalid state, Ctrl-C) never
    waits for a listing still running."""
    running = [Background(call) for call in calls]
    return [each.result() for each in running]
