"""Write the planned documents: concurrently, bounded, every failure named."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from queue import Empty, SimpleQueue
from typing import Any

from ..errors import Problem, PublisherError, StorageError
from ..progress import Progress, Silent
from ..redact import key_label, plural
from ..targets import Target
from ..targets.publish_lock import LockInfo
from ..threads import wait_out
from .plan import Put

MAX_FAILURES = 50
POLL = 0.02
"""Seconds between looks at the uploads that ended."""


def refresher(target: Target, info: LockInfo, ttl: float) -> Callable[[], None]:
    """Return a tick that renews the lock every third of its time to live."""
    last = [time.monotonic()]

    def refresh() -> None:
        if time.monotonic() - last[0] > ttl / 3:
            target.refresh_lock(info.renewed(ttl))
            last[0] = time.monotonic()

    return refresh


class UploadError(StorageError):
    """Some documents could not be written; `written` were, and nothing was deleted.

    `problems` says each distinct cause once, with how many and the first few labels (a
    full disk fails every key alike); `each` names every failed key with its cause."""

    def __init__(self, message: str, each: list[Problem], written: int) -> None:
        super().__init__(message, by_cause(each))
        self.each = each
        self.written = written


def by_cause(each: list[Problem], most: int = 3) -> list[Problem]:
    """One problem per distinct cause: how many keys, and the first few distinct labels."""
    causes: dict[str, list[str]] = {}
    for problem in each:
        causes.setdefault(problem.message, []).append(problem.location.removeprefix("key "))
    lines = []
    for cause, labels in causes.items():
        distinct = list(dict.fromkeys(labels))
        shown = ", ".join(distinct[:most]) + (
            f" and {len(labels) - most} more" if len(labels) > most else ""
        )
        lines.append(
            Problem(f"{len(labels)} {plural(len(labels), 'document')}", f"{cause} ({shown})")
        )
    return lines


class Workers:
    """Upload threads started ahead (by a helper thread, while the lock is taken and the
    manifest checked), waiting for the puts: started while the first ones upload, the
    threads would take the interpreter from them.

    A worker takes the next put when it is given (`send`), calls `put_document` (on S3 it
    lets go of the interpreter lock while its request is out) and reports (index, None or
    the error) on `done`. `close` stops them and returns once every one has ended,
    whatever interrupts the wait: nothing lands after it."""

    def __init__(self, target: Target, count: int) -> None:
        self.stop = threading.Event()
        self.done: SimpleQueue[Any] = SimpleQueue()
        self._target = target
        self._go = threading.Event()
        self._todo: list[Put] = []
        self._next = iter(enumerate(self._todo))
        self._taking = threading.Lock()
        # The starter's end, then one event per worker it started (set at the worker's
        # end): the starter appends them before its own is set, so one wait over this
        # list, in order, waits for every worker whatever interrupts it.
        self._started = threading.Event()
        self._ended: list[threading.Event] = [self._started]
        # Started by a helper: Python raises KeyboardInterrupt only in the main thread, so
        # a Ctrl-C never lands inside a Thread.start() and leaves a thread nobody waits for.
        threading.Thread(target=self._start, args=(count,), daemon=True).start()

    def _start(self, count: int) -> None:
        try:
            for _ in range(count):
                if self.stop.is_set():
                    return
                ended = threading.Event()
                threading.Thread(target=self._work, args=(ended,), name="puts", daemon=True).start()
                self._ended.append(ended)
        finally:
            self._started.set()

    def _work(self, ended: threading.Event) -> None:
        try:
            self._go.wait()
            while not self.stop.is_set():
                with self._taking:
                    item = next(self._next, None)
                if item is None:
                    return
                index, put = item
                try:
                    self._target.put_document(put.key, put.document)
                except BaseException as exc:  # reported as this key's failure
                    self.done.put((index, exc))
                else:
                    self.done.put((index, None))
        finally:
            ended.set()

    def send(self, todo: list[Put]) -> None:
        """Give the workers their puts (once): they start sending."""
        self._todo = todo
        self._next = iter(enumerate(todo))
        self._started.wait()  # every worker counted before any sends
        self._go.set()

    def running(self) -> bool:
        return not all(e.is_set() for e in self._ended)

    def close(self) -> None:
        """No more starts: return once every worker has ended (what is in flight lands or
        fails first), then raise a Ctrl-C that came meanwhile."""
        self.stop.set()
        self._go.set()
        wait_out(self._ended)


def workers_for(target: Target, count: int) -> Workers | None:
    """Upload threads for `count` puts, started now (None for none)."""
    return Workers(target, max(1, min(target.concurrency, count))) if count else None


class _Tally:
    """The uploads that ended so far: how many were written, which failed."""

    def __init__(self, todo: list[Put], pool: Workers | None, progress: Progress) -> None:
        self.todo, self.pool, self.progress = todo, pool, progress
        self.failures: list[Problem] = []
        self.ended = self.written = 0

    def settle(self, item: tuple[int, BaseException | None]) -> None:
        index, error = item
        self.ended += 1
        if error is None:
            self.written += 1
            self.progress.advance("upload")
            return
        self.failures.append(_failure_line(self.todo[index].key, error))
        if len(self.failures) >= MAX_FAILURES and self.pool is not None:
            self.pool.stop.set()  # no more starts: give up after what is in flight

    def drain(self) -> None:
        while self.pool is not None:
            try:
                item = self.pool.done.get_nowait()
            except Empty:
                return
            self.settle(item)

    def outcome(self) -> int:
        """How many were written; UploadError naming every failed key if any failed."""
        todo, failures = self.todo, self.failures
        stopped = self.pool is not None and self.pool.stop.is_set()
        if self.ended < len(todo) and not failures and not stopped:
            missing = len(todo) - self.ended  # a thread that ended without a word: no success
            failures.append(Problem("uploads", f"{missing} neither written nor failed"))
        if not failures:
            return self.written
        skipped = len(todo) - self.ended
        tail = f"; gave up after {len(failures)} failures, {skipped} not tried" if skipped else ""
        raise UploadError(
            f"{len(failures)} of {len(todo)} {plural(len(todo), 'document')} failed to upload"
            f"{tail}; nothing was deleted; re-run to finish (the next run puts only what is "
            "missing)",
            failures,
            self.written,
        )


def apply_puts(
    target: Target,
    puts: Iterable[Put],
    progress: Progress | None = None,
    tick: Callable[[], None] | None = None,
    workers: Workers | None = None,
) -> int:
    """Put documents concurrently and return how many; raise UploadError naming every
    failed key.

    The `workers` started ahead (or threads started here) send the puts; completions
    arrive on one queue. However this ends (failures, Ctrl-C, a second Ctrl-C), it
    returns only once every upload thread has ended, so the lock is never released while
    a PUT could still land.
    """
    todo = list(puts)
    pool = workers if workers is not None or not todo else workers_for(target, len(todo))
    tally = _Tally(todo, pool, progress or Silent())
    try:
        if pool is not None:
            pool.send(todo)
            while pool.running():
                time.sleep(POLL)  # a few dozen looks a second, not a wake-up per PUT
                tally.drain()
                if tick is not None:
                    tick()
        tally.drain()
    except BaseException:
        # Ctrl-C or SIGTERM: no more starts; what is in flight lands (or fails) before
        # the lock goes, and counts, so the line that says how many were written is true.
        # A second Ctrl-C does not cut this short.
        if pool is not None:
            with suppress(BaseException):  # waited out in full; the first interrupt is raised
                pool.close()
        with suppress(Exception):
            tally.drain()
        raise
    return tally.outcome()


def _failure_line(key: str, error: BaseException) -> Problem:
    cause = (
        error.message if isinstance(error, PublisherError) else f"{type(error).__name__}: {error}"
    )
    return Problem(f"key {key_label(key)}", cause)
