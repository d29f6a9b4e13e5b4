"""Progress on a terminal: each phase with done/total, rate and time left (rich, on stderr).

Drawn only when stderr is a terminal and --quiet is not given; rich leaves out colour
where NO_COLOR is set. Whether drawn or not, the uploads are counted, so an interrupted
publish can say how far it got.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is imported only when there is a terminal to draw on
    from rich.progress import Progress, TaskID

LABELS = {
    "load": "Loading and checking the state",
    "list": "Reading what is live",
    "upload": "Uploading documents",
    "delete": "Deleting documents",
    "purge": "Purging the CDN",
    "webhooks": "Pushing to webhooks",
}


class Display:
    """The command line's Progress: a rich display when `enabled`, a tally always."""

    def __init__(self, enabled: bool) -> None:
        self.uploaded = 0
        self.uploading = 0
        self._tasks: dict[str, TaskID] = {}
        self._rich: Progress | None = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._rich = Progress(
                SpinnerColumn(finished_text="✓"),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )

    def __enter__(self) -> Display:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: Any) -> None:
        if self._rich is not None:
            self._rich.stop()

    def start(self, phase: str, total: int | None = None) -> None:
        if phase == "upload":
            self.uploading = total or 0
        if self._rich is not None and phase not in self._tasks:
            label = LABELS.get(phase, phase)
            self._tasks[phase] = self._rich.add_task(label, total=total, rate="")

    def advance(self, phase: str, count: int = 1) -> None:
        if phase == "upload":
            self.uploaded += count
        task = self._tasks.get(phase)
        if self._rich is not None and task is not None:
            self._rich.advance(task, count)
            speed = self._rich.tasks[task].speed
            self._rich.update(task, rate=f"{speed:,.0f}/s" if speed else "")

    def finish(self, phase: str) -> None:
        task = self._tasks.get(phase)
        if self._rich is not None and task is not None:
            done = self._rich.tasks[task].completed
            total = self._rich.tasks[task].total
            self._rich.update(task, total=total or max(done, 1), completed=total or max(done, 1))


def on_terminal(quiet: bool) -> bool:
    """Draw progress only for a person: stderr is a terminal and --quiet was not given."""
    return not quiet and sys.stderr.isatty()
