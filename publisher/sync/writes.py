"""Bookkeeping writes sent side by side, before the manifest that names them, and the
reads they need made ahead."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from types import TracebackType
from typing import Any

from ..threads import Background, bounded
from .manifest import MANIFEST

HOLD_MOST = 1 << 20
"""Bytes of one write WriteBehind holds back; a larger one (a cold publish's pack or base
at scale) is sent at once, beside what follows, and freed when it has landed."""


class WriteBehind:
    """Bookkeeping writes that may land in any order (a history pack, a base, a record)
    go side by side, and all have landed before the manifest that names them is written:
    one round trip instead of one each. Small ones are held until then; large ones are
    sent at once. `ahead` names the reads to make now (while the documents upload): a
    later read of one of them is answered from what was read.

    Used as a context manager: on leaving, what is held is sent and every write has
    landed; after an error, the writes already sent are waited for (none lands after the
    lock is released) and what is held is dropped."""

    def __init__(self, target: Any, ahead: Sequence[str] = ()) -> None:
        self._target = target
        self._held: list[tuple[str, bytes]] = []
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
        if name == MANIFEST:
            self.flush()
            self._target.write_meta(name, body)
        elif len(body) <= HOLD_MOST:
            self._held.append((name, body))
        else:  # a large pack or base goes now: memory, not a round trip
            self._sending.append(Background(partial(self._send, name, body)))

    def delete_meta(self, names: Sequence[str]) -> None:
        self.flush()
        self._target.delete_meta(names)

    def flush(self) -> None:
        """Send what is held; return once every write has landed (or raise the first
        error, once none is still in flight)."""
        held, self._held = self._held, []
        self._sending += [Background(partial(self._send, name, body)) for name, body in held]
        self._settle()

    def _settle(self) -> None:
        sending, self._sending = self._sending, []
        errors = [each.error() for each in sending]
        failed = next((e for e in errors if e is not None), None)
        if failed is not None:
            raise failed

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
        self._held = []
        for each in self._sending:  # an error is already on its way: wait, say nothing
            each.error()
        self._sending = []
