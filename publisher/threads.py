"""Work on daemon threads: an exit (an invalid state, Ctrl-C) never waits for it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class Background(Generic[T]):
    """Run one call on a daemon thread (an invalid state must not wait for a listing)."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call
        self._value: T | None = None
        self._error: BaseException | None = None
        self.ended = threading.Event()
        """Set when the call has ended (wait_out waits on it)."""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:
            self._error = exc
        finally:
            self.ended.set()

    def wait_out(self) -> None:
        """Wait for the call to end, whatever interrupts the wait (then raised): used where
        nothing may land after the lock is released."""
        wait_out([self.ended])

    def error(self) -> BaseException | None:
        """Wait for the call; return its error, if any."""
        self.ended.wait()
        return self._error

    def result(self) -> T:
        """Wait for the call; return its value or raise its error."""
        self.ended.wait()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)  # the call's own value, None included


def side_by_side(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run each call on a daemon thread of its own and return their values in order;
    raise the first error once every call has ended. Daemon threads: an exit (an invalid
    state, Ctrl-C) never waits for a listing still running."""
    return settle([Background(call) for call in calls])


def bounded(calls: Sequence[Callable[[], T]], most: int = 16) -> list[T]:
    """Run the calls `most` at a time on daemon threads and return their values in order;
    raise the first error once every call started has ended."""
    values: list[T] = []
    for start in range(0, len(calls), most):
        values += settle([Background(call) for call in calls[start : start + most]])
    return values


def settle(running: Sequence[Background[T]]) -> list[T]:
    """Wait for every call; return their values in order, or raise the first error."""
    errors = [each.error() for each in running]
    failed = next((e for e in errors if e is not None), None)
    if failed is not None:
        raise failed
    return [each.result() for each in running]


def wait_out(ended: Sequence[threading.Event]) -> None:
    """Wait until every event is set (each one a thread's end), whatever interrupts the
    wait; then raise the first interrupt (Ctrl-C, SIGTERM) that came meanwhile, if any.

    Events, not Thread.join: on Python 3.11 a join that a Ctrl-C interrupts marks the
    thread as ended while it still runs (threading's bpo-45274 handling), so a loop of
    joins would stop waiting for a request still in flight."""
    interrupted: BaseException | None = None
    for event in ended:
        while not event.is_set():
            try:
                event.wait(timeout=1)
            except BaseException as exc:  # keep waiting; said after
                interrupted = interrupted or exc
    if interrupted is not None:
        raise interrupted


def to_the_end(call: Callable[[], T]) -> T:
    """Run `call` on a thread and return its value. A Ctrl-C or SIGTERM meanwhile waits
    for it to end and is raised then: a request is never abandoned in flight, to land
    after the lock is released."""
    running = Background(call)
    running.wait_out()
    return running.result()
