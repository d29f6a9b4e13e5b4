"""The quick no-op: the very bytes a complete publish published, nothing due, no parse.

Anything that could make a publish do something takes the full path: other bytes,
other options, a full scan due, a webhook delivery that failed, a document a prune
would delete, a manifest another publisher moved on.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

import publisher
from publisher.publishing import load_and_render as prepare_module
from tests.conftest import KEY_G, base_state, dump_state, run_cli


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every state file the publisher parses (the quick path parses none)."""
    seen: list[str] = []
    real = prepare_module.load_state

    def counting(path: Any, reuse: Any = None) -> Any:
        seen.append(str(path))
        return real(path, reuse)

    monkeypatch.setattr(prepare_module, "load_state", counting)
    return seen


def test_the_same_bytes_again_are_not_even_parsed(tmp_path: Path, loads: list[str]) -> None:
    path = dump_state(tmp_path / "s.yaml", base_state())
    target = tmp_path / "public"
    first = publisher.publish(path, target)
    assert first.quick is None and len(loads) == 1
    again = publisher.publish(path, target)
    assert again.quick == 3 and again.plan.unchanged == 3 and len(loads) == 1
    assert again.generation == first.generation
    as_json = json.loads(run_cli("publish", path, "--target", target, "--json").stdout)
    assert as_json["counts"]["documents"] == 3 and as_json["counts"]["distinct"] == 3

    path.write_text(path.read_text() + "# a comment: other bytes, the same documents\n")
    publisher.publish(path, target)
    assert len(loads) == 2  # other bytes: parsed (the CLI run above parsed nothing)
    options = publisher.PublishOptions(stopped_policy=publisher.StoppedPolicy.force_control)
    publisher.publish(path, target, options)
    assert len(loads) == 3  # other options shape other documents: parsed
    publisher.publish(path, target, publisher.PublishOptions(full_scan=True))
    assert len(loads) == 4


def test_a_full_scan_due_is_not_skipped(tmp_path: Path, loads: list[str]) -> None:
    path = dump_state(tmp_path / "s.yaml", base_state())
    target = tmp_path / "public"
    publisher.publish(path, target)
    publisher.publish(path, target)
    assert len(loads) == 1
    (target / "config" / KEY_G).unlink()  # drift
    result = publisher.publish(path, target, publisher.PublishOptions(full_scan_every=0))
    assert len(loads) == 2 and result.plan.count("added") == 1
    assert (target / "config" / KEY_G).exists()


def test_a_prune_of_what_was_left_in_place_is_not_skipped(tmp_path: Path, loads: list[str]) -> None:
    state = base_state()
    path = dump_state(tmp_path / "s.yaml", state)
    target = tmp_path / "public"
    publisher.publish(path, target)
    state["organizations"][1]["api_keys"] = []
    dump_state(path, state)
    publisher.publish(path, target)  # KEY_G's document left in place
    assert publisher.publish(path, target).quick is not None  # nothing to do without --prune
    pruned = publisher.publish(path, target, publisher.PublishOptions(prune=True))
    assert pruned.quick is None and pruned.deleted == [KEY_G]
    assert not (target / "config" / KEY_G).exists()


def test_a_failed_webhook_is_retried_not_skipped(
    tmp_path: Path, loads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]  # closed when the block ends: nothing listens
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    state = base_state()
    state["organizations"][0]["webhooks"] = [
        {"url": f"http://127.0.0.1:{dead}/hook", "secret_env": "HOOK_SECRET"}
    ]
    path = dump_state(tmp_path / "s.yaml", state)
    target = tmp_path / "public"
    for attempt in (1, 2):
        result = run_cli("publish", path, "--target", target)
        assert result.exit_code == 4, result.stdout
        assert "webhook" in result.stderr
        assert len(loads) == attempt  # each run parsed the state and tried again


def test_a_manifest_moved_on_by_another_publisher_is_not_skipped(
    tmp_path: Path, loads: list[str]
) -> None:
    path = dump_state(tmp_path / "s.yaml", base_state())
    other = base_state()
    other["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.3
    other_path = dump_state(tmp_path / "other.yaml", other)
    target = tmp_path / "public"
    publisher.publish(path, target)
    publisher.publish(other_path, target)  # another publisher, another state
    again = publisher.publish(path, target)
    assert again.quick is None and again.plan.count("changed") == 1


def test_an_invalid_state_is_said_before_an_unreachable_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marker is read before the state is parsed; a target that cannot be reached
    must not hide the state's own problems (exit 3, not 4)."""
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(name, value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\norganizations: [{id: x, api_keys: 3}]\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    result = run_cli(
        "publish", bad, "--target", "s3://some-bucket", "--endpoint-url",
        f"http://127.0.0.1:{dead}",
    )  # fmt: skip
    assert result.exit_code == 3, result.stderr
