"""The `publisher` command: options → library call → report; errors → exit codes.

Each module adds its commands to the one typer app of `app.py`.
"""

from __future__ import annotations

import gc
import signal
from types import FrameType

from . import (
    config_command,
    edge,
    housekeeping,
    publish_command,
    report_command,
    rollback_command,
    servers,
    state_cmds,
    validate_command,
    verify_history,
)
from .app import app

__all__ = [
    "app",
    "config_command",
    "edge",
    "housekeeping",
    "main",
    "publish_command",
    "report_command",
    "rollback_command",
    "servers",
    "state_cmds",
    "validate_command",
    "verify_history",
]


_terminated: list[int] = []


def _terminate(signum: int, frame: FrameType | None) -> None:
    _terminated.append(signum)
    raise KeyboardInterrupt  # runs the finally blocks that release the lock


def main() -> None:
    """Run the CLI (the `publisher` console script)."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except SystemExit as exc:
        if _terminated and exc.code == 130:  # stopped by SIGTERM: 128 + 15, as shells say
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    finally:
        # The interpreter's exit runs the collector over everything still held: after a
        # large publish a visible share of the run, for memory about to be freed.
        gc.freeze()
