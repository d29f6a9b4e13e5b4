"""`publish --report FILE.html` and `--markdown FILE`: written however the publish ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from ..errors import EXIT_OK, PublisherError
from ..pages.publish_markdown import publish_markdown
from ..pages.publish_page import PublishRun, publish_page
from ..progress import Stopwatch
from ..publishing.result import PublishResult
from .common import check_output, say, say_json, write_output
from .output import publish_json, publish_text

INTERRUPTED = 130


def report_path(report: Path | None, state: Path, target: str) -> Path | None:
    """The checked path of --report (exit 2 before anything is published): never the
    state file, nor a file under a directory target."""
    if report is None:
        return None
    protect = [state] if target.startswith("s3://") else [state, Path(target)]
    return check_output(report, protect)


class Reporter:
    """Collects what a publish did (set `result` and `error` as they become known) and
    writes the HTML page and the Markdown (`paths`, each optional) on the way out,
    whether the command succeeded, failed or was interrupted; it never changes the exit
    code."""

    def __init__(
        self,
        paths: tuple[Path | None, Path | None],
        target: str,
        prune: bool,
        watch: Stopwatch,
    ) -> None:
        self.paths, self.target, self.prune, self.watch = paths, target, prune, watch
        self.result: PublishResult | None = None
        self.error: PublisherError | None = None
        self.started = datetime.now(UTC)
        self._clock = time.monotonic()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if self.paths == (None, None):
            return
        if isinstance(exc, typer.Exit):
            code = exc.exit_code
        elif isinstance(exc, PublisherError):
            self.error, code = exc, exc.exit_code
        elif isinstance(exc, KeyboardInterrupt):
            code = INTERRUPTED
        else:
            code = EXIT_OK if exc is None else 1
        run = PublishRun(
            target=self.result.target if self.result else self.target,
            started=self.started,
            seconds=time.monotonic() - self._clock,
            spans=self.watch.spans,
            result=self.result,
            error=self.error,
            exit_code=code,
            prune=self.prune,
            interrupted=code == INTERRUPTED,
        )
        html, markdown = self.paths
        if html is not None:
            _write(html, "report", lambda: publish_page(run))
        if markdown is not None:
            _write(markdown, "Markdown", lambda: publish_markdown(run))


def _write(path: Path, what: str, text: Callable[[], str]) -> None:
    """Write one page; a failure is a warning, since the publish's own outcome and exit
    code stand."""
    try:
        write_output(path, text())
    except PublisherError as failed:
        say(f"warning: the {what} was not written: {failed.message}", err=True)
        return
    except Exception as failed:  # a fault in the page must not hide the publish's own
        say(f"warning: the {what} was not written: {type(failed).__name__}", err=True)
        return
    say(f"{what[0].upper()}{what[1:]} written to {path}", err=True)


def print_result(
    result: PublishResult,
    prune: bool,
    list_all: bool,
    as_json: bool,
    error: PublisherError | None,
    pending: bool = False,
) -> None:
    """The publish's result on stdout: text, or one line of JSON (`pending`: its exit
    code is 1, --exit-code's for changes pending)."""
    if as_json:  # one line, as every --json; the C encoder keeps 100,000 rows fast
        say_json(publish_json(result, prune=prune, error=error, pending=pending))
    else:
        say(publish_text(result, prune=prune, list_all=list_all, failed=error is not None))
