"""Two processes racing for a lock: the harness the lock-takeover tests share."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from typing import Any

from publisher.errors import LockHeldError
from publisher.targets.publish_lock import new_lock


def dead_pid() -> int:
    """Return the pid of a process that has exited (a crashed publisher's)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def _take(open_target: Callable[[], Any], start: Any, won: Any, tried: Any, done: Any) -> None:
    target = open_target()
    start.wait()
    try:
        target.acquire_lock(new_lock(60))
        won.append(os.getpid())
    except LockHeldError:
        pass
    tried.append(os.getpid())
    done.wait(30)  # a holder stays alive: a dead holder's lock may rightly be taken over


def winners(open_target: Callable[[], Any]) -> int:
    """Let two processes take the lock of `open_target()` at once; return how many held it.

    Both stay alive until both have tried, so a second winner can only be a race.
    """
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        start, done = manager.Event(), manager.Event()
        won, tried = manager.list(), manager.list()
        procs = [
            ctx.Process(target=_take, args=(open_target, start, won, tried, done)) for _ in range(2)
        ]
        for p in procs:
            p.start()
        start.set()
        deadline = time.monotonic() + 30
        while len(tried) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        done.set()
        for p in procs:
            p.join(30)
        return len(won)
