"""Shared helpers: state builders, an in-process CLI runner, and the Hypothesis profiles."""

from __future__ import annotations

import os
import re
import signal
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer.main
import typer.testing
import yaml
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

from publisher.cli import app

# Every property in the suite runs under one of these, registered here (before any test
# module is imported, so a test's own @settings starts from the profile loaded):
#   ci    `make test`: 100 examples per property, the same ones on every run (derandomize;
#         which also means no example database, so nothing shared between xdist workers);
#   fuzz  `make fuzz`: 10,000 examples per property, new ones each run.
_EVERY_PROFILE: dict[str, Any] = {
    "deadline": None,  # the CLI and real servers are in the loop: time is not a property
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
settings.register_profile("ci", max_examples=100, derandomize=True, **_EVERY_PROFILE)
settings.register_profile("fuzz", max_examples=10_000, **_EVERY_PROFILE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    # The Ctrl-C tests send SIGINT to the publisher processes they start. Started with
    # SIGINT ignored (a background job of a script, nohup), pytest would pass that on to
    # them, and Python leaves an ignored SIGINT ignored: eight tests would then fail for a
    # reason that is not the code's. Python's own handler again: they inherit the default.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


KEY_A = "key_acme_prod_0000000000000001"
KEY_A_CHECKOUT = "key_acme_checkout_00000000002"
KEY_G = "key_globex_all_000000000000003"


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


# typer's test runner builds the click command from the app's signatures on every
# invoke: most of an in-process run's time. The app does not change: build it once.
typer.testing._get_command = cache(typer.main.get_command)  # type: ignore[attr-defined]


def run_cli(
    *args: str | Path, input: str | bytes | None = None, env: dict[str, str] | None = None
) -> Run:
    """Run the publisher CLI in-process and return its exit code and both streams
    (`input`: its stdin; `env`: variables set for the run)."""
    result = CliRunner().invoke(app, [str(a) for a in args], input=input, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def unnamed(text: str) -> str:
    """Problem lines without the names after their locations (`... (acme/exp-a): `)."""
    return re.sub(r" \([^()]*\)(?=: )", "", text)


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def base_state() -> dict[str, Any]:
    """Two organizations, three keys (one project-scoped), a few experiments."""
    return {
        "version": 1,
        "organizations": [
            {
                "id": "acme",
                "api_keys": [
                    {"key": KEY_A, "description": "prod"},
                    {"key": KEY_A_CHECKOUT, "project": "checkout"},
                ],
                "experiments": [
                    {
                        "key": "exp-a",
                        "status": "running",
                        "variations": ["c", "t"],
                        "phases": [{"coverage": 1, "weights": [0.5, 0.5]}],
                    },
                    {
                        "key": "exp-checkout",
                        "project": "checkout",
                        "status": "running",
                        "variations": ["c", "t"],
                        "phases": [{"coverage": 0.5, "weights": [0.2, 0.8]}],
                    },
                ],
            },
            {
                "id": "globex",
                "api_keys": [{"key": KEY_G}],
                "experiments": [
                    {
                        "key": "exp-g",
                        "status": "draft",
                        "variations": ["c", "t"],
                    }
                ],
            },
        ],
    }


def dump_state(path: Path, state: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(state, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return dump_state(tmp_path / "state.yaml", base_state())


def tree(root: Path) -> dict[str, bytes]:
    """Every file below root, by relative path, with its bytes."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def quick_upload_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The upload loop looks at the finished uploads every 1 ms instead of 20 (uploads.POLL):
    a small publish is done in a few ms but waits for the loop's first look, two thirds of
    what it costs. For the properties, which publish hundreds of times."""
    monkeypatch.setattr("publisher.publishing.uploads.POLL", 0.001)


@pytest.fixture
def purges() -> Iterator[tuple[str, list[str]]]:
    """An edge on 127.0.0.1 that records each PURGE path."""
    seen: list[str] = []

    class Edge(BaseHTTPRequestHandler):
        def do_PURGE(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Edge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _keys_remembered_per_test() -> Iterator[None]:
    """The keys redaction remembers are a process's (a command runs once per process);
    in-process tests run many: each test starts from the keys remembered before it, so
    that one test's keys (Hypothesis draws words from the code, `BlockPublicPolicy`)
    are not labelled in another's output."""
    from publisher import redact

    known, lengths = set(redact._known), list(redact._lengths)
    yield
    redact._known.clear()
    redact._known.update(known)
    redact._lengths[:] = lengths
