"""How long-running work reports its progress: phases with counts. The library only calls these;
the command line draws them (on a terminal), a library caller may ignore them."""

from __future__ import annotations

from typing import Protocol

PHASES = ("load", "list", "upload", "delete", "purge", "webhooks")


class Progress(Protocol):
    """Receives each phase's start, advances and end."""

    def start(self, phase: str, total: int | None = None) -> None:
        """A phase begins; `total` is how many items it has, when known."""
        ...

    def advance(self, phase: str, count: int = 1) -> None:
        """`count` more items of the phase are done."""
        ...

    def finish(self, phase: str) -> None:
        """The phase is over."""
        ...


class Silent:
    """Progress that goes nowhere (the default)."""

    def start(self, phase: str, total: int | None = None) -> None:
        pass

    def advance(self, phase: str, count: int = 1) -> None:
        pass

    def finish(self, phase: str) -> None:
        pass
