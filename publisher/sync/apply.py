"""Write the planned documents: concurrently, bounded, every failure named."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import suppress
from typing import Any

from ..errors import Problem, PublisherError, StorageError
from ..progress import Progress, Silent
from ..redact import key_label, plural
from .lock import LockInfo
from .plan import Put
from .targets import Target

MAX_FAILURES = 50


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

    A target that uploads natively (`start_put` gives a future) has `concurrency` PUTs in
    flight; otherwise `concurrency` threads call `put_document`. However this ends (an
    error, Ctrl-C), it returns only when no PUT is in flight any more, so the lock is
    never released while one could still land.
    """
    progress = progress or Silent()
    todo = list(puts)
    failures: list[Problem] = []
    done = written = 0
    pool: ThreadPoolExecutor | None = None
    pending: dict[Future[Any], Put] = {}

    def start(put: Put) -> Future[Any]:
        nonlocal pool
        future = target.start_put(put.key, put.document)
        if future is None:
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=max(1, target.concurrency))
            future = pool.submit(target.put_document, put.key, put.document)
        return future

    def settle(finished: Iterable[Future[Any]]) -> None:
        nonlocal done, written
        for future in finished:
            put = pending.pop(future)
            error = future.exception()
            if error is not None:
                if not isinstance(error, Exception):
                    raise error
                failures.append(_failure_line(put.key, error))
            else:
                written += 1
                progress.advance("upload")
            done += 1

    queue = iter(todo)
    try:
        while True:
            window = max(1, target.concurrency) * (4 if pool is not None else 1)
            while len(pending) < window and len(failures) < MAX_FAILURES:
                put = next(queue, None)
                if put is None:
                    break
                pending[start(put)] = put
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            settle(finished)
            if tick is not None:
                tick()
    except BaseException:
        # Ctrl-C or SIGTERM: what is in flight lands (or fails) before the lock goes, and
        # counts, so the line that says how many were written is true.
        finished, _ = wait(pending)
        pending_now = list(finished)
        with suppress(BaseException):
            settle(pending_now)
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    if failures:
        skipped = len(todo) - done
        tail = f"; gave up after {len(failures)} failures, {skipped} not tried" if skipped else ""
        raise UploadError(
            f"{len(failures)} of {len(todo)} {plural(len(todo), 'document')} failed to upload"
            f"{tail}; nothing was deleted; re-run to finish (the next run puts only what is "
            "missing)",
            failures,
            written,
        )
    return written


def _failure_line(key: str, error: BaseException) -> Problem:
    cause = (
        error.message if isinstance(error, PublisherError) else f"{type(error).__name__}: {error}"
    )
    return Problem(f"key {key_label(key)}", cause)
