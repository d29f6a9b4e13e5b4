"""Write the planned documents: concurrently, bounded, every failure named."""

from __future__ import annotations

import signal
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
    (failures, Ctrl-C, a second Ctrl-C), it returns only once every upload thread has
    ended, so the lock is never released while a PUT could still land.
    """
    progress = progress or Silent()
    todo = list(puts)
    stop = threading.Event()
    done: SimpleQueue[Any] = SimpleQueue()
    workers: list[threading.Thread] = []
    failures: list[Problem] = []
    ended = written = 0

    def settle(item: tuple[int, BaseException | None]) -> None:
        nonlocal ended, written
        index, error = item
        ended += 1
        if error is None:
            written += 1
            progress.advance("upload")
            return
        failures.append(_failure_line(todo[index].key, error))
        if len(failures) >= MAX_FAILURES:
            stop.set()  # no more starts: give up after what is in flight

    def drain() -> None:
        while True:
            try:
                item = done.get_nowait()
            except Empty:
                return
            settle(item)

    try:
        _start(target, todo, stop, done, workers)
        while any(w.is_alive() for w in workers):
            time.sleep(POLL)  # a few dozen looks a second, not a wake-up per PUT
            drain()
            if tick is not None:
                tick()
        drain()
    except BaseException:
        # Ctrl-C or SIGTERM: no more starts; what is in flight lands (or fails) before
        # the lock goes, and counts, so the line that says how many were written is true.
        # A second Ctrl-C does not cut this short.
        stop.set()
        _wait_out(workers)
        with suppress(Exception):
            drain()
        raise
    if ended < len(todo) and not failures and not stop.is_set():
        missing = len(todo) - ended  # a thread that ended without a word: not a success
        failures.append(Problem("uploads", f"{missing} neither written nor failed"))
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


def _start(
    target: Target,
    todo: list[Put],
    stop: threading.Event,
    done: SimpleQueue[Any],
    workers: list[threading.Thread],
) -> None:
    """Start `concurrency` threads that call `put_document` for each put in turn; each
    sends (index, None or the error) to `done`. Any error of a PUT counts as its failure
    (a panic in native code is not an Exception, and must not pass for a success)."""
    queue = iter(enumerate(todo))
    lock = threading.Lock()

    def work() -> None:
        while not stop.is_set():
            with lock:
                item = next(queue, None)
            if item is None:
                return
            index, put = item
            try:
                target.put_document(put.key, put.document)
            except BaseException as exc:  # reported as this key's failure
                done.put((index, exc))
            else:
                done.put((index, None))

    # Signals wait while the threads start: a Ctrl-C inside Thread.start() could leave a
    # thread running that is not yet "alive", and the wait for the uploads would miss it.
    held = {signal.SIGINT, signal.SIGTERM}
    masked = hasattr(signal, "pthread_sigmask")
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held) if masked else set()
    try:
        for _ in range(max(1, min(target.concurrency, len(todo))) if todo else 0):
            worker = threading.Thread(target=work, name="puts", daemon=True)
            worker.start()
            workers.append(worker)
    finally:
        if masked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _wait_out(workers: list[threading.Thread]) -> None:
    """Join every upload thread, whatever interrupts the wait."""
    for worker in workers:
        while worker.is_alive():
            try:
                worker.join(timeout=1)
            except BaseException:  # a second Ctrl-C: keep waiting
                continue


def _failure_line(key: str, error: BaseException) -> Problem:
    cause = (
        error.message if isinstance(error, PublisherError) else f"{type(error).__name__}: {error}"
    )
    return Problem(f"key {key_label(key)}", cause)
