"""Webhook pushes after publish, against real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

import publisher
from publisher.delivery.sender import Sender
from publisher.documents.render import render_documents
from publisher.errors import StateError, StorageError
from publisher.retry import Backoff
from publisher.state import load_state
from tests.conftest import KEY_A, KEY_A_CHECKOUT, base_state, dump_state, run_cli
from tests.webhook_util import Push, receiver

SECRET = "hook-secret-1"
ENV = {"ACME_HOOK": SECRET, "ACME_CHECKOUT_HOOK": "other-secret"}
FAST = Sender(backoff=Backoff(3, first=0.01), timeout=5)


def with_hooks(path: Path, url: str, checkout_url: str | None = None) -> Path:
    state = base_state()
    hooks: list[dict[str, Any]] = [{"url": url + "/all", "secret_env": "ACME_HOOK"}]
    if checkout_url:
        hooks.append(
            {
                "url": checkout_url + "/checkout",
                "secret_env": "ACME_CHECKOUT_HOOK",
                "project": "checkout",
            }
        )
    state["organizations"][0]["webhooks"] = hooks
    return dump_state(path, state)


def check_push(push: Push, secret: str, expected_overrides: dict[str, Any]) -> None:
    """Recompute both signatures here and check the body."""
    body = push.body
    headers = {k.lower(): v for k, v in push.headers.items()}
    assert headers["content-type"] == "application/json"
    assert (
        headers["x-growthbook-signature"]
        == hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    )
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    digest = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{digest}"
    value = json.loads(body)
    assert set(value) == {"timestamp", "overrides"}
    assert abs(value["timestamp"] - time.time()) < 60
    assert value["overrides"] == expected_overrides


def overrides(path: Path, key: str) -> dict[str, Any]:
    body = render_documents(load_state(path)).documents[key].body
    return dict(json.loads(body)["overrides"])


def test_push_after_publish_signed_and_scoped(tmp_path: Path) -> None:
    """Each hook gets its scope's overrides (org-wide or one project), signed both ways."""
    with receiver() as all_hook, receiver() as checkout_hook:
        state = with_hooks(tmp_path / "s.yaml", all_hook.url, checkout_hook.url)
        result = publisher.publish(
            state, tmp_path / "public", publisher.PublishOptions(environ=ENV), sender=FAST
        )
        assert len(result.webhooks.delivered) == 2
        assert len(all_hook.pushes) == 1 and len(checkout_hook.pushes) == 1
        check_push(all_hook.pushes[0], SECRET, overrides(state, KEY_A))
        check_push(checkout_hook.pushes[0], "other-secret", overrides(state, KEY_A_CHECKOUT))
        assert all_hook.pushes[0].path == "/all"


def test_only_changed_scopes_are_notified(tmp_path: Path) -> None:
    """A change outside the checkout project pushes the org-wide hook only; no change, no push."""
    with receiver() as all_hook, receiver() as checkout_hook:
        state = with_hooks(tmp_path / "s.yaml", all_hook.url, checkout_hook.url)
        options = publisher.PublishOptions(environ=ENV)
        publisher.publish(state, tmp_path / "public", options, sender=FAST)
        publisher.publish(state, tmp_path / "public", options, sender=FAST)
        assert (len(all_hook.pushes), len(checkout_hook.pushes)) == (1, 1)
        data = base_state()
        data["organizations"][0]["webhooks"] = [
            {"url": all_hook.url + "/all", "secret_env": "ACME_HOOK"},
            {
                "url": checkout_hook.url + "/checkout",
                "secret_env": "ACME_CHECKOUT_HOOK",
                "project": "checkout",
            },
        ]
        data["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = (
            0.3  # exp-a: no project
        )
        dump_state(state, data)
        publisher.publish(state, tmp_path / "public", options, sender=FAST)
        assert (len(all_hook.pushes), len(checkout_hook.pushes)) == (2, 1)
        check_push(all_hook.pushes[1], SECRET, overrides(state, KEY_A))


def test_receiver_failing_twice_then_succeeding(tmp_path: Path) -> None:
    """Two 500s then a 200: delivered within one publish by the bounded retries."""
    with receiver(script=[500, 503]) as hook:
        state = with_hooks(tmp_path / "s.yaml", hook.url)
        result = publisher.publish(
            state, tmp_path / "public", publisher.PublishOptions(environ=ENV), sender=FAST
        )
        assert len(hook.pushes) == 3
        assert result.webhooks.delivered and not result.webhooks.failed


def test_receiver_down_then_delivered_next_publish(tmp_path: Path) -> None:
    """A receiver down during one publish: exit 4, recorded; the next publish (no change) delivers."""
    with receiver() as probe:
        dead_url = probe.url
    state = with_hooks(tmp_path / "s.yaml", dead_url)
    target = tmp_path / "public"
    with pytest.raises(StorageError) as failed:
        publisher.publish(state, target, publisher.PublishOptions(environ=ENV), sender=FAST)
    assert "webhook delivery failed" in failed.value.message
    assert (target / "config" / KEY_A).exists()  # the documents are live anyway
    record = json.loads((target / "_publisher" / "webhooks.json").read_bytes())
    (entry,) = record["hooks"].values()
    assert entry["pending"] and "unreachable" in entry["error"]
    assert SECRET not in (target / "_publisher" / "webhooks.json").read_text()
    with receiver() as hook:
        with_hooks(state, hook.url)  # the receiver is back (at a new port)
        result = publisher.publish(
            state, target, publisher.PublishOptions(environ=ENV), sender=FAST
        )
        assert len(hook.pushes) == 1 and result.webhooks.delivered
        check_push(hook.pushes[0], SECRET, overrides(state, KEY_A))
        again = publisher.publish(state, target, publisher.PublishOptions(environ=ENV), sender=FAST)
        assert not again.webhooks.delivered and len(hook.pushes) == 1


def test_pending_delivery_retried_without_any_change(tmp_path: Path) -> None:
    """A failed push is retried by the next publish even though no document changed."""
    with receiver(script=[500, 500, 500]) as hook:
        state = with_hooks(tmp_path / "s.yaml", hook.url)
        target = tmp_path / "public"
        with pytest.raises(StorageError):
            publisher.publish(state, target, publisher.PublishOptions(environ=ENV), sender=FAST)
        result = publisher.publish(
            state, target, publisher.PublishOptions(environ=ENV), sender=FAST
        )
        assert result.plan.puts == [] and result.webhooks.delivered
        assert len(hook.pushes) == 4


@pytest.mark.parametrize("damage", ["garbage", "fifo", "gone"])
def test_a_pending_delivery_survives_a_damaged_record(tmp_path: Path, damage: str) -> None:
    """A failed push, then _publisher/webhooks.json unreadable (or gone): the record counts
    as none, so every hook is due again and the next publish delivers; nothing forgotten."""
    with receiver(script=[500, 500, 500]) as hook:
        state = with_hooks(tmp_path / "s.yaml", hook.url)
        target = tmp_path / "public"
        with pytest.raises(StorageError):
            publisher.publish(state, target, publisher.PublishOptions(environ=ENV), sender=FAST)
        record = target / "_publisher" / "webhooks.json"
        record.unlink()
        if damage == "garbage":
            record.write_text('{"hooks":')
        elif damage == "fifo":
            os.mkfifo(record)
        result = publisher.publish(
            state, target, publisher.PublishOptions(environ=ENV), sender=FAST
        )
        assert result.plan.puts == [] and result.webhooks.delivered
        assert len(hook.pushes) == 4
        check_push(hook.pushes[-1], SECRET, overrides(state, KEY_A))


def test_redirect_is_not_followed(tmp_path: Path) -> None:
    """A 3xx is a failure: the push is not repeated at another address."""
    with receiver() as elsewhere, receiver(redirect_to="") as hook:
        hook.redirect_to = elsewhere.url + "/stolen"
        state = with_hooks(tmp_path / "s.yaml", hook.url)
        with pytest.raises(StorageError) as failed:
            publisher.publish(
                state, tmp_path / "public", publisher.PublishOptions(environ=ENV), sender=FAST
            )
        assert "HTTP 307" in str(failed.value.problems)
        assert elsewhere.pushes == []


def test_missing_secret_is_a_state_error(tmp_path: Path) -> None:
    """A webhook whose secret variable is unset: exit 3, nothing published."""
    state = with_hooks(tmp_path / "s.yaml", "http://127.0.0.1:9")
    with pytest.raises(StateError) as err:
        publisher.publish(
            state, tmp_path / "public", publisher.PublishOptions(environ={}), sender=FAST
        )
    assert "the environment variable ACME_HOOK is not set" in str(err.value.problems[0])
    assert not (tmp_path / "public").exists()
    result = run_cli("publish", state, "--target", tmp_path / "public")
    assert result.exit_code == 3 and "ACME_HOOK is not set" in result.stderr


def test_webhooks_send_on_demand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`publisher webhooks send` pushes the current document without publishing."""
    monkeypatch.setenv("ACME_HOOK", SECRET)
    with receiver() as hook:
        state = with_hooks(tmp_path / "s.yaml", hook.url)
        result = run_cli("webhooks", "send", state, "--org", "acme")
        assert result.exit_code == 0, result.stderr
        assert "delivered" in result.stdout
        check_push(hook.pushes[0], SECRET, overrides(state, KEY_A))
    assert run_cli("webhooks", "send", state, "--org", "globex").exit_code == 2


def test_removed_webhook_is_forgotten(tmp_path: Path) -> None:
    """A webhook dropped from the state is no longer retried: its pending record goes."""
    with receiver() as probe:
        dead_url = probe.url
    state = with_hooks(tmp_path / "s.yaml", dead_url)
    target = tmp_path / "public"
    with pytest.raises(StorageError):
        publisher.publish(state, target, publisher.PublishOptions(environ=ENV), sender=FAST)
    dump_state(state, base_state())  # no webhooks any more
    result = publisher.publish(state, target, publisher.PublishOptions(environ=ENV), sender=FAST)
    assert not result.webhooks.failed
    record = json.loads((target / "_publisher" / "webhooks.json").read_bytes())
    assert record["hooks"] == {}


def test_dry_run_lists_due_webhooks(tmp_path: Path) -> None:
    """--dry-run names the webhooks a publish would push to, and pushes nothing."""
    with receiver() as hook:
        state = with_hooks(tmp_path / "s.yaml", hook.url)
        result = publisher.publish(
            state,
            tmp_path / "public",
            publisher.PublishOptions(environ=ENV, dry_run=True),
            sender=FAST,
        )
        assert result.webhooks_due == [f"acme → {hook.url}"]
        assert hook.pushes == []


def test_render_needs_no_webhook_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`render` prints a document without the webhook secrets; `validate` requires them."""
    monkeypatch.delenv("ACME_HOOK", raising=False)
    state = with_hooks(tmp_path / "s.yaml", "http://127.0.0.1:9")
    printed = run_cli("render", state, "--key", KEY_A)
    assert printed.exit_code == 0, printed.stderr
    assert json.loads(printed.stdout)["overrides"] == overrides(state, KEY_A)
    checked = run_cli("validate", state)
    assert checked.exit_code == 3 and "ACME_HOOK is not set" in checked.stderr
