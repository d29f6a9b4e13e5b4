"""Pause the cyclic garbage collector over work that makes no reference cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cycles() -> Iterator[None]:
    """Disable the collector for a block that allocates many acyclic objects.

    Building a state of 100,000 keys or its documents allocates millions of tuples,
    dicts and strings and no cycles; each full collection would rescan them all.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
