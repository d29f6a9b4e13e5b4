"""Bookkeeping writes held back and sent side by side, before the manifest that names them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from ..threads import side_by_side
from .manifest import MANIFEST

HOLD_MOST = 1 << 20
"""Bytes of one write WriteBehind holds back; a larger one (a cold publish's pack or base
at scale) is sent at once and freed."""


class WriteBehind:
    """Bookkeeping writes that may land in any order (a history pack, a base, a record)
    are held and sent side by side when the manifest that names them is written, before
    it: one round trip instead of one each. Reads and deletes pass through (a delete
    first sends what is held)."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self._held: list[tuple[str, bytes]] = []

    def read_meta(self, name: str) -> bytes | None:
        return self._target.read_meta(name)  # type: ignore[no-any-return]

    def write_meta(self, name: str, body: bytes) -> None:
        if name != MANIFEST and len(body) <= HOLD_MOST:
            self._held.append((name, body))
            return
        if name != MANIFEST:  # a large pack or base goes now: memory, not a round trip
            self._target.write_meta(name, body)
            return
        self.flush()
        self._target.write_meta(name, body)

    def delete_meta(self, names: Sequence[str]) -> None:
        self.flush()
        self._target.delete_meta(names)

    def flush(self) -> None:
        held, self._held = self._held, []
        side_by_side([partial(self._send, name, body) for name, body in held])

    def _send(self, name: str, body: bytes) -> str:
        self._target.write_meta(name, body)
        return name
