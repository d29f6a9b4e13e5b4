"""Document uploads in native code (obstore) and on botocore's threads, against moto's
HTTP server: the same objects either way; a denied PUT named by label with no DELETE
sent; a crash (SIGKILL), a Ctrl-C and a SIGTERM in the middle of the uploads leave
nothing deleted and the lock released (or, after a crash, stale) and a re-run converges;
the uploads in flight follow the store's round trip unless --concurrency is given."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.redact import key_label
from publisher.targets.s3_target import auto_concurrency
from tests.conftest import KEY_A, base_state, dump_state, run_cli, tree
from tests.s3util import CREDENTIALS, Faults, Proxy, count, moto_server, s3_client

CLIENTS = ("native", "botocore")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def new_bucket(endpoint: str, name: str) -> Any:
    client: Any = s3_client(endpoint)
    client.create_bucket(Bucket=name)
    return client


def objects(client: Any, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every object: its bytes, Content-Type, Cache-Control and metadata."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            got = client.get_object(Bucket=bucket, Key=item["Key"])
            found[item["Key"]] = {
                "body": got["Body"].read(),
                "type": got["ContentType"],
                "cache": got["CacheControl"],
                "meta": got["Metadata"],
            }
    return found


def many_keys(count: int, revoked: bool = False) -> dict[str, Any]:
    state = base_state()
    state["organizations"][1]["api_keys"] = [{"key": f"key_globex_{i:020d}"} for i in range(count)]
    state["organizations"][0]["api_keys"][0]["revoked"] = revoked
    return state


def expected(tmp_path: Path, state: dict[str, Any]) -> dict[str, bytes]:
    """The documents a directory publish of `state` writes, by object key."""
    site = tmp_path / "expected"
    assert run_cli("publish", dump_state(tmp_path / "e.yaml", state), "-t", site).exit_code == 0
    return {k: v for k, v in tree(site).items() if k.startswith("config/")}


def test_both_upload_clients_write_the_same_objects(endpoint: str, tmp_path: Path) -> None:
    state = dump_state(tmp_path / "s.yaml", many_keys(40))
    written = {}
    for client_name in CLIENTS:
        bucket = f"same-{client_name}"
        client = new_bucket(endpoint, bucket)
        args = ("-t", f"s3://{bucket}", "--endpoint-url", endpoint, "--upload-client", client_name)
        result = run_cli("publish", state, *args)
        assert result.exit_code == 0, result.stderr
        written[client_name] = objects(client, bucket, "config/")
    assert written["native"] == written["botocore"]
    assert {k: v["body"] for k, v in written["native"].items()} == expected(tmp_path, many_keys(40))
    one = written["native"][f"config/{KEY_A}"]
    assert one["type"] == "application/json; charset=utf-8" and one["meta"].keys() == {"sha256"}


@pytest.mark.parametrize("client_name", CLIENTS)
def test_a_denied_put_is_named_and_nothing_is_deleted(
    endpoint: str, tmp_path: Path, client_name: str
) -> None:
    bucket = f"denied-{client_name}"
    client = new_bucket(endpoint, bucket)
    path = tmp_path / "s.yaml"
    site = ("-t", f"s3://{bucket}", "--endpoint-url")
    assert run_cli("publish", dump_state(path, many_keys(30)), *site, endpoint).exit_code == 0
    changed = many_keys(30, revoked=True)
    changed["organizations"][1]["experiments"][0]["status"] = "running"
    changed["organizations"][1]["experiments"][0]["phases"] = [{"coverage": 1, "weights": [1, 0]}]
    dump_state(path, changed)
    denied = "key_globex_00000000000000000007"
    proxy = Proxy(endpoint, Faults(deny_put=f"/config/{denied}"))
    try:
        cut = run_cli("publish", path, *site, proxy.url, "--prune",
                      "--upload-client", client_name)  # fmt: skip
        requests = proxy.reset()
    finally:
        proxy.close()
    assert cut.exit_code == 4
    assert key_label(denied) in cut.stderr and denied not in cut.stderr + cut.stdout
    assert "access denied" in cut.stderr and "nothing was deleted" in cut.stderr
    assert count(requests, "DELETE", "/config/") == 0
    assert f"config/{KEY_A}" in objects(client, bucket, "config/")  # the revoked one stays
    assert "_publisher/lock" not in objects(client, bucket, "_publisher/")
    again = run_cli("publish", path, *site, endpoint, "--prune")
    assert again.exit_code == 0, again.stderr
    live = {k: v["body"] for k, v in objects(client, bucket, "config/").items()}
    assert live == expected(tmp_path, changed)


def held_publish(path: Path, proxy: Proxy, bucket: str, *extra: str) -> subprocess.Popen[str]:
    """A publish in its own process whose document PUTs wait at the proxy's gate; returns
    once the first of them has arrived."""
    proxy.gate.clear()
    proc = subprocess.Popen(
        [sys.executable, "-m", "publisher", "publish", str(path), "--target", f"s3://{bucket}",
         "--endpoint-url", proxy.url, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **CREDENTIALS},
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while proxy.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if proxy.in_flight == 0:
        proc.kill()
        raise AssertionError(f"no document PUT arrived: {proc.communicate()}")
    return proc


def test_a_crash_mid_upload_deletes_nothing_and_a_rerun_converges(
    endpoint: str, tmp_path: Path
) -> None:
    client = new_bucket(endpoint, "crash")
    path = tmp_path / "s.yaml"
    site = ("-t", "s3://crash", "--endpoint-url", endpoint)
    assert run_cli("publish", dump_state(path, base_state()), *site).exit_code == 0
    state = many_keys(60, revoked=True)
    dump_state(path, state)
    proxy = Proxy(endpoint)
    try:
        proc = held_publish(path, proxy, "crash", "--prune", "--force")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        proxy.gate.set()
        time.sleep(0.5)  # what was held is answered now
        requests = proxy.reset()
    finally:
        proxy.gate.set()
        proxy.close()
    assert proc.returncode == -signal.SIGKILL
    assert count(requests, "DELETE", "/config/") == 0
    assert f"config/{KEY_A}" in objects(client, "crash", "config/")  # not deleted
    # The lock of a process that is gone is stale: the next publish takes it over.
    again = run_cli("publish", path, *site, "--prune", "--force")
    assert again.exit_code == 0, again.stderr
    live = {k: v["body"] for k, v in objects(client, "crash", "config/").items()}
    assert live == expected(tmp_path, state)
    assert "_publisher/lock" not in objects(client, "crash", "_publisher/")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_upload_counts_what_landed_and_releases_the_lock(
    endpoint: str, tmp_path: Path, sig: int, code: int
) -> None:
    bucket = f"signal-{code}"
    client = new_bucket(endpoint, bucket)
    # 100 keys: far more than the 16 in flight when the signal comes.
    path = dump_state(tmp_path / "s.yaml", many_keys(100, revoked=True))
    proxy = Proxy(endpoint)
    try:
        proc = held_publish(path, proxy, bucket, "--prune", "--concurrency", "16")
        time.sleep(0.3)
        proc.send_signal(sig)
        time.sleep(0.3)
        proxy.gate.set()
        _, err = proc.communicate(timeout=60)
        requests = proxy.reset()
    finally:
        proxy.gate.set()
        proxy.close()
    assert proc.returncode == code, err
    said = re.search(r"interrupted: ([\d,]+) of ([\d,]+) documents were written", err)
    assert said, err
    landed = len(objects(client, bucket, "config/"))
    assert int(said[1].replace(",", "")) == landed < 101
    assert count(requests, "DELETE", "/config/") == 0
    assert "_publisher/lock" not in objects(client, bucket, "_publisher/")
    again = run_cli("publish", path, "-t", f"s3://{bucket}", "--endpoint-url", endpoint)
    assert again.exit_code == 0 and len(objects(client, bucket, "config/")) == 101


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_the_lock_is_taken_stops_the_waiting_upload_threads(
    endpoint: str, tmp_path: Path, sig: int, code: int
) -> None:
    """The upload threads start while the lock is taken and the manifest checked; a
    signal then (the check held at the proxy) stops them before any document is sent,
    and the lock is released."""
    bucket = f"early-{code}"
    client = new_bucket(endpoint, bucket)
    path = dump_state(tmp_path / "s.yaml", many_keys(98))  # 100 documents: 64 threads
    proxy = Proxy(endpoint, Faults(delay=1.5, only="_publisher/manifest.json"))
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "publisher", "publish", str(path), "--target",
             f"s3://{bucket}", "--endpoint-url", proxy.url, "--concurrency", "64"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **CREDENTIALS},
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while "_publisher/lock" not in objects(client, bucket, "_publisher/"):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(sig)  # the manifest's check is held for 1.5 s
        _, err = proc.communicate(timeout=60)
        time.sleep(0.5)  # anything still on its way arrives
        requests = proxy.reset()
    finally:
        proxy.close()
    assert proc.returncode == code, err
    assert "interrupted: before the uploads, no document was written" in err, err
    assert count(requests, "PUT", "/config/") == 0 and count(requests, "DELETE", "/") == 1
    assert objects(client, bucket, "config/") == {}
    assert "_publisher/lock" not in objects(client, bucket, "_publisher/")
    again = run_cli("publish", path, "-t", f"s3://{bucket}", "--endpoint-url", endpoint)
    assert again.exit_code == 0 and len(objects(client, bucket, "config/")) == 100


@pytest.mark.parametrize(
    ("held", "when"),
    [
        ("_publisher/lock", "the lock"),
        ("_publisher/bodies/", "the history's pack (beside the base and record)"),
        ("_publisher/manifest.json", "the manifest"),
    ],
)
def test_a_signal_while_a_bookkeeping_write_is_out_waits_for_it_then_releases_the_lock(
    endpoint: str, tmp_path: Path, held: str, when: str
) -> None:
    """A Ctrl-C while the lock's PUT, the history's pack or the manifest's PUT is held at
    the proxy: the request is not abandoned to land after the lock is released (another
    publisher's pack of the same number would be overwritten); the run waits for it,
    then exits 130 with the lock released, and a re-run converges."""
    bucket = "held-" + held.split("/")[1].split(".")[0]
    client = new_bucket(endpoint, bucket)
    path = dump_state(tmp_path / "s.yaml", many_keys(30))
    proxy = Proxy(endpoint)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "publisher", "publish", str(path), "--target",
             f"s3://{bucket}", "--endpoint-url", proxy.url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **CREDENTIALS},
        )  # fmt: skip
        deadline = time.monotonic() + 30
        # The first look reads the manifest; hold the next request to `held` from then on.
        while not any("manifest.json" in r[1] for r in proxy.requests):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        proxy.faults.only, proxy.faults.method, proxy.faults.delay = f"/{held}", "PUT", 2.0
        while not proxy.faults.injected_delays:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)  # while that request is held for 2 s
        _, err = proc.communicate(timeout=60)
        proxy.faults.delay = 0.0
        time.sleep(0.3)
        requests = proxy.reset()
    finally:
        proxy.close()
    assert proc.returncode == 130, err
    puts = [r for r in requests if r[0] == "PUT" and held in r[1]]
    release = [i for i, r in enumerate(requests) if r[0] == "DELETE" and "_publisher/lock" in r[1]]
    assert puts and release, (when, requests)
    assert requests.index(puts[-1]) < release[-1]  # what was out landed before the release
    assert "_publisher/lock" not in objects(client, bucket, "_publisher/")
    again = run_cli("publish", path, "-t", f"s3://{bucket}", "--endpoint-url", endpoint)
    assert again.exit_code == 0, again.stderr
    assert len(objects(client, bucket, "config/")) == 32


def held_uploads(endpoint: str, tmp_path: Path, keys: int, *given: str, most: int) -> int:
    """Publish `keys` keys to a store 30 ms away whose proxy holds the document PUTs; once
    more than `most` are out, or no more come for a second, let them through; return how
    many were out at once. Held, a PUT cannot end and make room for the next: the count is
    how many the publisher sends at once, however slowly this machine starts threads."""
    path = dump_state(tmp_path / f"s{keys}.yaml", many_keys(keys))
    bucket = f"far-{len(given)}"
    new_bucket(endpoint, bucket)
    proxy = Proxy(endpoint, Faults(delay=0.03))
    proxy.gate.clear()
    args = ("publish", path, "-t", f"s3://{bucket}", "--endpoint-url", proxy.url, *given)
    ran: list[Any] = []
    publish = threading.Thread(target=lambda: ran.append(run_cli(*args)), daemon=True)
    publish.start()
    try:
        deadline = time.monotonic() + 30
        seen, since = 0, time.monotonic()
        while proxy.in_flight <= most and time.monotonic() < deadline:
            if proxy.in_flight != seen:
                seen, since = proxy.in_flight, time.monotonic()
            elif seen and time.monotonic() - since > 1.0:
                break  # as many as will come
            time.sleep(0.01)
        held = proxy.in_flight
    finally:
        proxy.gate.set()
        publish.join(60)
        proxy.close()
    assert ran and ran[0].exit_code == 0, ran and ran[0].stderr
    return held


def test_uploads_in_flight_follow_the_round_trip(endpoint: str, tmp_path: Path) -> None:
    """A store 30 ms away gets far more than 32 uploads at once; --concurrency 8, eight."""
    assert held_uploads(endpoint, tmp_path, 100, most=64) > 64  # 102 documents
    assert held_uploads(endpoint, tmp_path, 60, "--concurrency", "8", most=8) == 8


def test_the_choice_of_uploads_in_flight() -> None:
    assert auto_concurrency([]) == 32
    assert auto_concurrency([0.001, 0.002, 0.0015]) == 32  # on this machine: moto, MinIO
    assert auto_concurrency([0.03, 0.031, 0.029]) == 480  # 30 ms away
    assert auto_concurrency([0.2] * 3) == 512


class Panic(BaseException):
    """What a panic in native code raises: not an Exception."""


def test_a_put_that_dies_with_a_base_exception_is_a_failure_not_a_success(
    tmp_path: Path,
) -> None:
    from publisher.publishing.uploads import UploadError, apply_puts
    from publisher.targets import LocalTarget

    class Dying(LocalTarget):
        def put_document(self, key: str, document: Any) -> None:
            if key.endswith("7"):
                raise Panic("called `Result::unwrap()` on an `Err` value")
            super().put_document(key, document)

    state = many_keys(20)
    published = publisher_api().check(dump_state(tmp_path / "s.yaml", state)).rendered
    from publisher.publishing.plan import Put

    puts = [Put(k, d, "added") for k, d in published.documents.items()]
    with pytest.raises(UploadError) as raised:
        apply_puts(Dying(tmp_path / "site"), puts)
    dying = [p.key for p in puts if p.key.endswith("7")]
    assert raised.value.written == len(puts) - len(dying) and dying
    assert {p.location for p in raised.value.each} == {f"key {key_label(k)}" for k in dying}


def publisher_api() -> Any:
    import publisher

    return publisher


def test_a_cache_control_with_a_newline_is_refused_before_anything(tmp_path: Path) -> None:
    path = dump_state(tmp_path / "s.yaml", base_state())
    result = run_cli("publish", path, "-t", tmp_path / "site", "--cache-control", "public\n")
    assert result.exit_code == 2 and "printable ASCII" in result.stderr
    assert "no newline" in result.stderr
    assert not (tmp_path / "site").exists()


def test_a_second_signal_still_waits_for_the_uploads_in_flight(
    endpoint: str, tmp_path: Path
) -> None:
    client = new_bucket(endpoint, "twice")
    path = dump_state(tmp_path / "s.yaml", many_keys(100))
    proxy = Proxy(endpoint)
    try:
        proc = held_publish(path, proxy, "twice", "--concurrency", "8")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        # PUTs are still held at the proxy: the lock must still be there.
        assert proc.poll() is None
        assert "_publisher/lock" in objects(client, "twice", "_publisher/")
        proxy.gate.set()
        _, err = proc.communicate(timeout=60)
    finally:
        proxy.gate.set()
        proxy.close()
    assert proc.returncode == 130, err
    said = re.search(r"interrupted: ([\d,]+) of", err)
    assert said and int(said[1]) == len(objects(client, "twice", "config/")) <= 10
    assert "_publisher/lock" not in objects(client, "twice", "_publisher/")


def test_after_a_publish_cut_short_the_old_state_is_put_back_in_full(
    endpoint: str, tmp_path: Path
) -> None:
    """The manifest still says the old documents are live: a run that stopped short
    leaves a mark, and the next run lists what is live instead of trusting it."""
    client = new_bucket(endpoint, "cutshort")
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    dump_state(old, many_keys(30))
    changed = many_keys(30)
    changed["organizations"][1]["experiments"][0]["status"] = "running"
    changed["organizations"][1]["experiments"][0]["phases"] = [{"coverage": 1, "weights": [1, 0]}]
    dump_state(new, changed)
    site = ("-t", "s3://cutshort", "--endpoint-url")
    assert run_cli("publish", old, *site, endpoint).exit_code == 0
    before = {k: v["body"] for k, v in objects(client, "cutshort", "config/").items()}
    proxy = Proxy(endpoint, Faults(deny_put="/config/key_globex_00000000000000000007"))
    try:
        cut = run_cli("publish", new, *site, proxy.url)
    finally:
        proxy.close()
    assert cut.exit_code == 4
    assert {k: v["body"] for k, v in objects(client, "cutshort", "config/").items()} != before
    again = run_cli("publish", old, *site, endpoint)
    assert again.exit_code == 0, again.stderr
    assert {k: v["body"] for k, v in objects(client, "cutshort", "config/").items()} == before


def test_credential_mistakes_are_one_line_and_never_quoted(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_bucket(endpoint, "creds")
    path = dump_state(tmp_path / "s.yaml", base_state())
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tok-secret-value\n")
    result = run_cli("publish", path, "-t", "s3://creds", "--endpoint-url", endpoint)
    assert result.exit_code == 4 and "tok-secret-value" not in result.stderr + result.stdout
    assert "a credential or header holds a character" in result.stderr
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    result = run_cli("publish", path, "-t", "s3://creds", "--endpoint-url", endpoint)
    assert result.exit_code in (2, 4) and "Partial credentials" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_an_empty_cache_control_is_called_empty(tmp_path: Path) -> None:
    path = dump_state(tmp_path / "s.yaml", base_state())
    result = run_cli("publish", path, "-t", tmp_path / "site", "--cache-control", " ")
    assert result.exit_code == 2 and "it is empty" in result.stderr
    assert not (tmp_path / "site").exists()


def test_a_symlinked_bookkeeping_file_is_called_a_file(tmp_path: Path) -> None:
    path = dump_state(tmp_path / "s.yaml", base_state())
    site = tmp_path / "site"
    assert run_cli("publish", path, "-t", site).exit_code == 0
    manifest = site / "_publisher" / "manifest.json"
    elsewhere = tmp_path / "elsewhere.json"
    manifest.rename(elsewhere)
    manifest.symlink_to(elsewhere)
    dump_state(path, {**base_state(), "organizations": base_state()["organizations"][:1]})
    result = run_cli("publish", path, "-t", site, "--prune", "--force")
    assert result.exit_code == 4
    assert "is a symbolic link" in result.stderr and "make it a real file" in result.stderr
