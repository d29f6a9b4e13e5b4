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
from .lock import LockInfo
from .plan import Put
from .targets import Target

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
    """Some documents could not be written; `written` were, and nothing was deleted."""

    def __init__(self, message: str, problems: list[Problem], written: int) -> None:
        super().__init__(message, problems)
        self.written = written


def apply_puts(
    target: Target,
    puts: Iterable[Put],
    progress: Progress | None = None,
    tick: Callable[[], None] | None = None,
) -> int:
    """Put documents concurrently and return how many; raise UploadError naming every
    failed key.

    `concurrency` threads call `put_document` (on S3 it lets go of the interpreter lock
    while its request is out); completions arrive on one queue. However this ends
    (failures, Ctrl-C), it returns only once no PUT is in flight, so the lock is never
    released while one could still land.
    """
    progress = progress or Silent()
    todo = list(puts)
    stop = threading.Event()
    done = _threads(target, todo, stop)
    failures: list[Problem] = []
    ended = written = 0
    unreported = 0

    def settle(item: tuple[int, BaseException | None]) -> None:
        nonlocal ended, written, unreported
        index, error = item
        ended += 1
        if error is None:
            written += 1
            unreported += 1
            return
        if not isinstance(error, Exception):
            raise error
        failures.append(_failure_line(todo[index].key, error))
        if len(failures) >= MAX_FAILURES:
            stop.set()  # no more starts: give up after what is in flight

    def report() -> None:
        nonlocal unreported
        if unreported:
            progress.advance("upload", unreported)
            unreported = 0

    try:
        finished = False
        while not finished:
            # What ended since the last look, all at once: this thread wakes a few dozen
            # times a second, not once per PUT (each wake-up takes the interpreter lock
            # from the threads that send).
            time.sleep(POLL)
            while True:
                try:
                    item = done.get_nowait()
                except Empty:
                    break
                if item is None:
                    finished = True
                    break
                settle(item)
            report()
            if tick is not None:
                tick()
    except BaseException:
        # Ctrl-C or SIGTERM: what is in flight lands (or fails) before the lock goes, and
        # counts, so the line that says how many were written is true.
        stop.set()
        while (item := done.get()) is not None:
            with suppress(Exception):
                settle(item)
        report()
        raise
    report()
    if failures:
        skipped = len(todo) - ended
        tail = f"; gave up after {len(failures)} failures, {skipped} not tried" if skipped else ""
        raise UploadError(
            f"{len(failures)} of {len(todo)} {plural(len(todo), 'document')} failed to upload"
            f"{tail}; nothing was deleted; re-run to finish (the next run puts only what is "
            "missing)",
            failures,
            written,
        )
    return written


def _threads(target: Target, todo: list[Put], stop: threading.Event) -> SimpleQueue[Any]:
    """`concurrency` threads that call `put_document` for each put in turn; the queue
    receives (index, None or the error) as each ends, then None once all have stopped."""
    done: SimpleQueue[Any] = SimpleQueue()
    queue = iter(enumerate(todo))
    lock = threading.Lock()
    workers = max(1, min(target.concurrency, len(todo)))
    alive = [workers]

    def work() -> None:
        try:
            while not stop.is_set():
                with lock:
                    item = next(queue, None)
                if item is None:
                    break
                index, put = item
                try:
                    target.put_document(put.key, put.document)
                    done.put((index, None))
                except Exception as exc:
                    done.put((index, exc))
        finally:
            with lock:
                alive[0] -= 1
                if alive[0] == 0:
                    done.put(None)

    if not todo:
        done.put(None)
    for _ in range(workers if todo else 0):
        threading.Thread(target=work, name="puts").start()
    return done


def _failure_line(key: str, error: BaseException) -> Problem:
    cause = (
        error.message if isinstance(error, PublisherError) else f"{type(error).__name__}: {error}"
    )
    return Problem(f"key {key_label(key)}", cause)
