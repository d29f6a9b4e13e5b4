"""Bookkeeping writes sent side by side, all landed before the manifest that names them,
and the reads they need made ahead."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from types import TracebackType
from typing import Any

from ..threads import Background, bounded, settle, wait_out
from .manifest import MANIFEST

AT_ONCE_MOST = 8 << 20
"""Bytes of one bookkeeping write sent beside what follows; a larger one (a pack, base,
record or manifest of a large target) waits for those in flight and goes alone, so that
two of them are never held in memory at once (bench/README.md has the peak memory)."""


class WriteBehind:
    """Bookkeeping writes that may land in any order (a history pack, a base, a record)
    are each sent at once, beside what follows (the next one's making), and all have
    landed before the manifest that names them is written; one over AT_ONCE_MOST bytes
    is sent alone. `ahead` names the reads to make now (while the documents upload): a
    later read of one of them is answered from what was read.

    Used as a context manager: on leaving, every write has landed; after an error, the
    writes already sent are waited for (none lands after the lock is released)."""

    def __init__(self, target: Any, ahead: Sequence[str] = ()) -> None:
        self._target = target
        self._sending: list[Background[str]] = []
        self._ahead = set(ahead)
        self._read = Background(partial(self._read_ahead, list(ahead))) if ahead else None

    def _read_ahead(self, names: list[str]) -> dict[str, bytes | None]:
        reads = bounded([partial(self._target.read_meta, name) for name in names])
        return dict(zip(names, reads, strict=True))

    def read_meta(self, name: str) -> bytes | None:
        if name in self._ahead and self._read is not None:
            self._ahead.discard(name)  # answered once: a later read asks the store
            return self._read.result()[name]
        return self._target.read_meta(name)  # type: ignore[no-any-return]

    def write_meta(self, name: str, body: bytes) -> None:
        if name == MANIFEST or len(body) > AT_ONCE_MOST:
            self.flush()
            self._target.write_meta(name, body)
        else:
            self._sending.append(Background(partial(self._send, name, body)))

    def delete_meta(self, names: Sequence[str]) -> None:
        self.flush()
        self._target.delete_meta(names)

    def flush(self) -> None:
        """Return once every write has landed (or raise the first error, once none is
        still in flight). Until then they stay listed: a Ctrl-C during this wait leaves
        them for __exit__ to wait for."""
        settle(self._sending)
        self._sending = []

    def _send(self, name: str, body: bytes) -> str:
        self._target.write_meta(name, body)
        return name

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.flush()
            return
        try:  # an error is already on its way: wait for every write, a second Ctrl-C too
            wait_out([each.ended for each in self._sending])
        finally:
            self._sending = []
