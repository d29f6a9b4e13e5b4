"""Two processes racing: the harness the lock-takeover and publish-race tests share.

Each racer is a Python process of its own (`python -m tests.race`) that lives for the
whole test: it takes an instruction, readies it, and on the word go carries it out and
answers, one JSON line each. Both get the word at the same moment, so what they do
races; and since they stay alive between rounds, a lock one of them holds is held by a
live process. (Forking the test process for every round instead cost 30-100 ms a fork,
in proportion to the pytest worker's memory, and a publisher process started for every
round 0.3 s of imports.)

Instructions: {"take": "dir", "root": ...} and {"take": "s3", "endpoint": ...,
"bucket": ...} try to take the target's lock (answer {"won": bool}); {"cli": [...]} runs
the publisher's command line in the racer (answer {"code": int, "stderr": str}). Any
other exception is answered {"error": ...}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from queue import Empty, Queue
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def dead_pid() -> int:
    """Return the pid of a process that has exited (a crashed publisher's)."""
    proc = subprocess.Popen(["true"])  # vfork: cheap however large the test process is
    proc.wait()
    return proc.pid


class Racers:
    """The two racer processes; `race` runs one round."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.race"],
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        self._lines: list[Queue[str]] = []
        for proc in self._procs:
            lines: Queue[str] = Queue()
            threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
            self._lines.append(lines)

    def race(self, instructions: Sequence[dict[str, Any]], timeout: float = 60) -> list[Any]:
        """Give each racer its instruction, and once both are ready, the word go; return
        their answers. An instruction alone is given to both."""
        for proc, instruction in zip(self._procs, instructions, strict=True):
            self._send(proc, json.dumps(instruction))
        assert [self._read(i, timeout) for i in range(2)] == ["ready", "ready"]
        for proc in self._procs:
            self._send(proc, "go")
        answers = [json.loads(self._read(i, timeout)) for i in range(2)]
        errors = [a["error"] for a in answers if "error" in a]
        assert not errors, errors
        return answers

    def winners(self, instruction: dict[str, Any]) -> int:
        """Both racers try to take the lock at once: how many held it."""
        return sum(a["won"] for a in self.race([instruction, instruction]))

    def _send(self, proc: subprocess.Popen[str], line: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(line + "\n")
        proc.stdin.flush()

    def _read(self, which: int, timeout: float) -> str:
        try:
            return self._lines[which].get(timeout=timeout)
        except Empty:
            raise AssertionError(f"racer {which} said nothing for {timeout} s") from None

    def close(self) -> None:
        for proc in self._procs:
            if proc.stdin is not None:
                proc.stdin.close()  # end of instructions: the racer exits
        for proc in self._procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def racers(env: dict[str, str] | None = None) -> Iterator[Racers]:
    """Two racer processes for the length of the block."""
    running = Racers(env)
    try:
        yield running
    finally:
        running.close()


def _pump(proc: subprocess.Popen[str], lines: Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line.rstrip("\n"))


# --- the racer's side -------------------------------------------------------------------


def _ready(instruction: dict[str, Any], s3_targets: dict[tuple[str, str], Any]) -> Any:
    """What to do on go, made ready now (a target opened, its S3 client made once)."""
    from publisher.errors import LockHeldError
    from publisher.targets import LocalTarget
    from publisher.targets.publish_lock import new_lock

    if "cli" in instruction:
        from tests.conftest import run_cli

        args = instruction["cli"]

        def run() -> dict[str, Any]:
            result = run_cli(*args)
            return {"code": result.exit_code, "stderr": result.stderr}

        return run
    if instruction["take"] == "dir":
        target = LocalTarget(Path(instruction["root"]))
    else:
        from publisher.settings import StorageSettings
        from publisher.targets import open_target

        where = (instruction["endpoint"], instruction["bucket"])
        if where not in s3_targets:
            storage = StorageSettings(endpoint_url=where[0])
            s3_targets[where] = open_target(f"s3://{where[1]}", storage)
        target = s3_targets[where]

    def take() -> dict[str, Any]:
        try:
            target.acquire_lock(new_lock(60))
        except LockHeldError:
            return {"won": False}
        return {"won": True}

    return take


def _serve() -> None:
    s3_targets: dict[tuple[str, str], Any] = {}
    for line in sys.stdin:
        try:
            action = _ready(json.loads(line), s3_targets)
        except Exception as exc:
            action = None
            failure = f"{type(exc).__name__}: {exc}"
        print("ready", flush=True)
        sys.stdin.readline()  # go
        try:
            answer = action() if action else {"error": failure}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    _serve()
