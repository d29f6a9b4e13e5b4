"""Bookkeeping files are input from a shared bucket: whatever bytes anyone (another
version, a crash, a person with write access) leaves under _publisher/, every command
answers with an exit code and at most a few lines, never a traceback; and a
`publish --full-scan` afterwards makes what is live exactly what the state renders.

The property mutates one bookkeeping file of a target with history (two generations,
a pending purge, a webhook record, a stale lock): cut short, bytes that are no JSON,
a value of another type, nesting thousands deep, numbers of hundreds of digits or out
of range, NaN and infinities, times far in the future, a field gone.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.documents.render import render_documents
from publisher.state import load_state
from publisher.targets.publish_lock import decode_lock, is_stale
from tests.conftest import base_state, dump_state, run_cli, tree
from tests.race import dead_pid

FILES = (
    "manifest.json",
    "quick.json",
    "generations/00000001.json",
    "generations/00000002.json",
    "bodies/00000001.json",
    "bodies/00000002.json",
    "history/base-00000001.json",
    "pending-purge.json",
    "webhooks.json",
    "lock",
)
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state and a target with two generations and every bookkeeping file."""
    root = tmp_path_factory.mktemp("bookkeeping")
    state = base_state()
    first = dump_state(root / "first.yaml", state)
    assert run_cli("publish", first, "--target", root / "t").exit_code == 0
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.5
    dump_state(root / "state.yaml", state)
    assert run_cli("publish", root / "state.yaml", "--target", root / "t").exit_code == 0
    meta = root / "t" / "_publisher"
    manifest = json.loads((meta / "manifest.json").read_text())
    some = next(iter(manifest["documents"]))
    (meta / "pending-purge.json").write_text(json.dumps({"keys": [some]}))
    hook = {"org": "acme", "project": None, "delivered": "0" * 64, "attempts": 1}
    (meta / "webhooks.json").write_text(json.dumps({"version": 1, "hooks": {"h1": hook}}))
    # Stale twice over: expired, and its process gone (a pid may be taken again by the
    # time a long run reaches it: the expiry alone keeps it stale).
    lock = {"host": socket.gethostname(), "pid": dead_pid(), "token": "t0",
            "started_at": time.time() - 600, "expires_at": time.time() - 60}  # fmt: skip
    (meta / "lock").write_text(json.dumps(lock))
    return root


# --- mutations --------------------------------------------------------------------

NUMBERS = st.sampled_from(
    ["Infinity", "-Infinity", "NaN", "1e400", "-1e400", "1" + "0" * 400, "-10000000",
     "99999999999999999999", "0", "-1", "1e11", str(int(time.time()) + 10**7), "3.5"]
)  # fmt: skip
VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False), st.text(max_size=20),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a parsed file (each key of a mapping, each item of a list)."""
    found = [here]
    if isinstance(value, dict):
        for key, item in list(value.items())[:50]:
            found += _paths(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:50]):
            found += _paths(item, (*here, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    value[head] = _replace(value[head], rest, new)
    return value


@st.composite
def mutations(draw: st.DrawFn, raw: bytes) -> bytes:
    """One change to a bookkeeping file's bytes."""
    how = draw(st.sampled_from(["cut", "bytes", "retype", "nest", "number", "drop", "empty"]))
    if how == "cut":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if how == "bytes":
        return draw(st.binary(min_size=1, max_size=64))
    if how == "empty":
        return b""
    value = json.loads(raw)
    path = draw(st.sampled_from(_paths(value)))
    if how == "retype":
        text = json.dumps(_replace(value, path, draw(VALUES)))
    elif how == "nest":
        depth = draw(st.sampled_from([50, 900, 3000, 20_000]))
        marker = "\u0000NESTED\u0000"
        text = json.dumps(_replace(value, path, marker)).replace(
            json.dumps(marker), "[" * depth + "1" + "]" * depth
        )
    elif how == "number":
        marker = "\u0000NUMBER\u0000"
        text = json.dumps(_replace(value, path, marker)).replace(json.dumps(marker), draw(NUMBERS))
    else:  # drop
        if not path:
            return b"{}"
        parent = value
        for part in path[:-1]:
            parent = parent[part]
        del parent[path[-1]]
        text = json.dumps(value)
    return text.encode()


# --- the property -------------------------------------------------------------------

ALLOWED = {  # a publish without the CDN while a purge is pending: exit 4, nothing written
    "publish": {0, 3, 4},
    "dry-run": {0, 3, 4},
    "history": {0, 4},
    "verify": {0, 1, 4},
    "rollback": {0, 2, 3, 4},
}


def _command(which: str, root: Path) -> list[Any]:
    target = root / "t"
    return {
        "publish": ["publish", root / "state.yaml", "--target", target],
        "dry-run": ["publish", root / "state.yaml", "--target", target, "--dry-run"],
        "history": ["history", "--target", target],
        "verify": ["verify", root / "state.yaml", "--target", target],
        "rollback": ["rollback", "--to", "1", "--target", target],
    }[which]


def _held(raw: bytes) -> bool:
    """The lock, as mutated, is one a live process holds (exit 5 is the right answer)."""
    found = decode_lock(raw)
    return found is not None and not is_stale(found)


@SETTINGS
@given(data=st.data())
def test_any_bookkeeping_file_is_survived_and_a_full_scan_repairs(
    template: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Whatever one bookkeeping file holds: no traceback, an allowed exit code and few
    lines; then `publish --full-scan` (and a plain publish) leave the state's documents
    live, byte for byte."""
    root = tmp_path_factory.mktemp("fuzzed")
    shutil.copytree(template, root, dirs_exist_ok=True)
    name = data.draw(st.sampled_from(FILES), label="file")
    path = root / "t" / "_publisher" / name
    mutated = data.draw(mutations(path.read_bytes()), label="mutation")
    path.write_bytes(mutated)
    which = data.draw(st.sampled_from(sorted(ALLOWED)), label="command")
    held = name == "lock" and _held(mutated)
    ran = run_cli(*_command(which, root))
    allowed = ALLOWED[which] | ({5} if held else set())
    assert ran.exit_code in allowed, (which, ran.exit_code, ran.stderr)
    assert "Traceback" not in ran.stderr and len(ran.stderr.splitlines()) <= 12, ran.stderr
    if held:
        path.unlink()  # a lock a live process holds is respected: take it away to go on
    # The template holds a pending purge, and these publishes know no CDN: they go on
    # without it (the purge stays pending).
    going = ["--target", root / "t", "--ignore-pending-purge"]
    scan = run_cli("publish", root / "state.yaml", *going, "--full-scan")
    assert scan.exit_code == 0, scan.stderr
    expected = {
        f"config/{key}": doc.body
        for key, doc in render_documents(load_state(root / "state.yaml")).documents.items()
    }
    live = tree(root / "t")
    assert {k: v for k, v in live.items() if k.startswith("config/")} == expected
    again = run_cli("publish", root / "state.yaml", *going)
    assert again.exit_code == 0 and "Traceback" not in again.stderr, again.stderr
