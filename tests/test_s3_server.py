"""The CLI against moto's real HTTP server on 127.0.0.1, counted and disturbed by a proxy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.documents.render import render_documents
from publisher.state import load_state
from tests.conftest import KEY_G, dump_state, run_cli
from tests.s3util import BUCKET, CREDENTIALS, Faults, Proxy, count, moto_server, s3_client


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def bucket(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[str]:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    name = f"{BUCKET}-{abs(hash(request.node.name)) % 10**8}"
    client: Any = s3_client(endpoint)
    client.create_bucket(Bucket=name)
    yield name


def many(n_orgs: int, keys_per_org: int = 3) -> dict[str, Any]:
    """A state of n organizations, each with its own experiment and several keys."""
    return {
        "version": 1,
        "organizations": [
            {
                "id": f"org{i}",
                "api_keys": [{"key": f"key_org{i:03d}_{j:010d}"} for j in range(keys_per_org)],
                "experiments": [
                    {
                        "key": "exp",
                        "status": "running",
                        "variations": ["a", "b"],
                        "phases": [{"coverage": 1, "weights": [0.5, 0.5]}],
                    }
                ],
            }
            for i in range(n_orgs)
        ],
    }


def stored(endpoint: str, bucket: str) -> dict[str, bytes]:
    client: Any = s3_client(endpoint)
    items = client.list_objects_v2(Bucket=bucket, Prefix="config/").get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in items}


def expected(state_file: Path) -> dict[str, bytes]:
    docs = render_documents(load_state(state_file)).documents
    return {f"config/{k}": d.body for k, d in docs.items()}


def test_cold_noop_incremental_prune_request_counts(
    endpoint: str, bucket: str, tmp_path: Path
) -> None:
    """Cold: a PUT per key (and a full listing); no-op and incremental: planned from the
    manifest, no listing; a prune of a revoked key deletes it; a forced full scan lists."""
    proxy = Proxy(endpoint)
    try:
        state_file = dump_state(tmp_path / "s.yaml", many(10))
        args = ("--target", f"s3://{bucket}", "--endpoint-url", proxy.url)
        cold = run_cli("publish", state_file, *args)
        assert cold.exit_code == 0, cold.stderr
        cold_requests = proxy.reset()
        assert count(cold_requests, "PUT", "/config/") == 30
        assert count(cold_requests, "GET", "list-type=2") == 1  # no manifest yet: listed
        assert stored(endpoint, bucket) == expected(state_file)

        noop = run_cli("publish", state_file, *args)
        assert noop.exit_code == 0, noop.stderr
        noop_requests = proxy.reset()
        assert count(noop_requests, "PUT", "/config/") == 0
        assert count(noop_requests, "PUT", "/_publisher/manifest") == 0
        assert count(noop_requests, "GET", "list-type=2") == 0

        state = many(10)
        state["organizations"][4]["experiments"][0]["phases"][0]["coverage"] = 0.5
        state["organizations"][7]["api_keys"][0]["revoked"] = True
        dump_state(state_file, state)
        incremental = run_cli("publish", state_file, *args, "--prune")
        assert incremental.exit_code == 0, incremental.stderr
        inc_requests = proxy.reset()
        puts = [p for m, p, _ in inc_requests if m == "PUT" and "/config/" in p]
        assert sorted(puts) == sorted(f"/{bucket}/config/key_org004_{j:010d}" for j in range(3))
        assert count(inc_requests, "POST", "?delete") == 1
        assert count(inc_requests, "GET", "list-type=2") == 0
        assert count(inc_requests, "HEAD", "/_publisher/manifest") == 1  # re-checked, locked
        assert f"config/key_org007_{0:010d}" not in stored(endpoint, bucket)
        assert stored(endpoint, bucket) == expected(state_file)
        scan = run_cli("publish", state_file, *args, "--full-scan")
        assert scan.exit_code == 0, scan.stderr
        assert count(proxy.reset(), "GET", "list-type=2") >= 1
        print(
            f"\nrequests: cold={len(cold_requests)} noop={len(noop_requests)} "
            f"incremental={len(inc_requests)}"
        )
    finally:
        proxy.close()


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, **CREDENTIALS}


def test_two_concurrent_publishers(endpoint: str, bucket: str, tmp_path: Path) -> None:
    """Two publishers at once: one publishes, the other exits 5 naming the holder."""
    proxy = Proxy(endpoint)
    proxy.gate.clear()  # the first publisher waits on its document requests
    try:
        state_file = dump_state(tmp_path / "s.yaml", many(5))
        command = [
            sys.executable,
            "-m",
            "publisher",
            "publish",
            str(state_file),
            "--target",
            f"s3://{bucket}",
            "--endpoint-url",
            proxy.url,
        ]
        first = subprocess.Popen(
            command, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        # Its documents are on their way: it holds the lock. (Its listing, the signal this
        # waited for, comes before the lock: on a busy machine the second took the lock
        # first, its own documents waited at the gate, and the test timed out at 60 s.)
        if not proxy.document_arrived.wait(timeout=30):
            first.kill()
            raise AssertionError(f"no document request arrived: {first.communicate()}")
        second = subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=60)
        proxy.gate.set()
        client: Any = s3_client(endpoint)
        _, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
        assert second.returncode == 5, second.stderr
        assert "is being published by host" in second.stderr
        assert stored(endpoint, bucket) == expected(state_file)
        assert not client.list_objects_v2(Bucket=bucket, Prefix="_publisher/lock").get("KeyCount")
    finally:
        proxy.close()


@pytest.fixture
def short_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore waits a random 0-1, 0-2, 0-4, 0-8 s before retrying a throttled request
    (SlowDown): a run that met a quarter of its requests throttled spent seconds asleep,
    and the test took 26-40 s. The faults are injected here, not a store asking for less:
    each retry waits a twentieth as long. Which requests fail, how often a request is
    retried and botocore's retry quota are unchanged."""
    from botocore.retries.standard import ExponentialBackoff

    full = ExponentialBackoff.delay_amount
    monkeypatch.setattr(
        ExponentialBackoff, "delay_amount", lambda self, context: full(self, context) / 20
    )


@pytest.mark.usefixtures("short_retry_waits")
def test_faults_converge_and_never_delete_after_a_failed_put(
    endpoint: str, bucket: str, tmp_path: Path
) -> None:
    """503 SlowDown, 500s, dropped connections and latency: every run exits 0 or 4, a run with a
    failed put deletes nothing, and re-runs converge to the exact bytes."""
    state_file = dump_state(tmp_path / "s.yaml", many(30))
    clean = Proxy(endpoint)
    try:
        assert (
            run_cli(
                "publish", state_file, "--target", f"s3://{bucket}", "--endpoint-url", clean.url
            ).exit_code
            == 0
        )
    finally:
        clean.close()
    state = many(30)
    for org in state["organizations"]:
        org["experiments"][0]["phases"][0]["weights"] = [0.25, 0.75]
    state["organizations"][0]["api_keys"][0]["revoked"] = True
    dump_state(state_file, state)
    faults = Faults(
        slowdown=0.25, error500=0.15, drop_before=0.05, drop_after=0.05, latency=0.02, seed=11
    )
    proxy = Proxy(endpoint, faults)
    revoked = "config/key_org000_0000000000"
    codes = []
    try:
        for _ in range(12):  # each run a fresh roll of faults: it must converge
            result = run_cli(
                "publish",
                state_file,
                "--target",
                f"s3://{bucket}",
                "--endpoint-url",
                proxy.url,
                "--prune",
            )
            requests = proxy.reset()
            codes.append(result.exit_code)
            assert not re.search(r"key_org\d{3}_\d{10}", result.stderr)  # no raw key in errors
            assert result.exit_code in (0, 4), result.stderr
            assert "Traceback" not in result.stderr
            if result.exit_code == 4 and "failed to upload" in result.stderr:
                assert count(requests, "POST", "?delete") == 0
                assert revoked in stored(endpoint, bucket)
            if result.exit_code == 0:
                break
    finally:
        proxy.close()
    assert codes[-1] == 0, (codes, result.stderr[-2000:])
    assert stored(endpoint, bucket) == expected(state_file)
    assert sum(faults.injected.values()) > 0
    print(f"\nfaults injected: {faults.injected}; exit codes of the runs: {codes}")


def test_put_failure_exits_4_names_keys_and_deletes_nothing(
    endpoint: str, bucket: str, tmp_path: Path
) -> None:
    """When every PUT of a document fails, the run exits 4 naming the keys, and deletes nothing."""
    state_file = dump_state(tmp_path / "s.yaml", many(2))
    args = ("--target", f"s3://{bucket}", "--endpoint-url")
    clean = Proxy(endpoint)
    try:
        assert run_cli("publish", state_file, *args, clean.url).exit_code == 0
    finally:
        clean.close()
    state = many(2)
    state["organizations"][0]["experiments"][0]["status"] = "draft"
    state["organizations"][1]["api_keys"][2]["revoked"] = True
    dump_state(state_file, state)
    broken = Proxy(endpoint, Faults(error500=1.0, only="/config/"))
    try:
        result = run_cli("publish", state_file, *args, broken.url, "--prune")
        requests = broken.reset()
    finally:
        broken.close()
    assert result.exit_code == 4
    assert "3 of 3 documents failed to upload; nothing was deleted" in result.stderr
    assert "3 documents: bucket " in result.stderr and "key_org0…0000" in result.stderr
    assert "Traceback" not in result.stderr
    assert count(requests, "POST", "?delete") == 0
    assert "key_org000_0000000000" not in result.stderr
    assert f"config/key_org001_{2:010d}" in stored(endpoint, bucket)


def test_unreachable_endpoint(
    tmp_path: Path, state_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A closed port exits 4 with 'cannot reach' and the fix."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    result = run_cli(
        "publish",
        state_file,
        "--target",
        "s3://some-bucket",
        "--endpoint-url",
        "http://127.0.0.1:9",
    )
    assert result.exit_code == 4
    assert "cannot reach http://127.0.0.1:9: check --endpoint-url and the network" in result.stderr


def test_missing_bucket_via_cli(endpoint: str, bucket: str, state_file: Path) -> None:
    """A bucket that does not exist exits 4 with one clear line."""
    result = run_cli(
        "publish", state_file, "--target", "s3://not-created-bucket", "--endpoint-url", endpoint
    )
    assert result.exit_code == 4
    assert f"bucket not-created-bucket does not exist at {endpoint}" in result.stderr


def test_no_credentials(endpoint: str, bucket: str, state_file: Path, tmp_path: Path) -> None:
    """No credentials anywhere exits 4, saying where credentials come from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "publisher",
            "publish",
            str(state_file),
            "--target",
            f"s3://{bucket}",
            "--endpoint-url",
            endpoint,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4
    assert "no AWS credentials found" in result.stderr


def test_credentials_never_printed(
    endpoint: str, bucket: str, state_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither the secret key nor the access key id appears in any output, even with --verbose."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSHOULDNOTAPPEAR")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-should-not-appear")
    result = run_cli(
        "--verbose",
        "publish",
        state_file,
        "--target",
        f"s3://{bucket}",
        "--endpoint-url",
        endpoint,
        "--json",
    )
    assert result.exit_code == 0
    for text in (result.stdout, result.stderr):
        assert "AKIDSHOULDNOTAPPEAR" not in text and "secret-should-not-appear" not in text
        assert KEY_G not in text


def test_init_bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """init-bucket creates (with --create), sets CORS, and warns about a publicly listable bucket."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    missing = run_cli("init-bucket", "s3://fresh-bucket", "--endpoint-url", endpoint)
    assert missing.exit_code == 4
    assert "pass --create" in missing.stderr
    created = run_cli("init-bucket", "s3://fresh-bucket", "--create", "--endpoint-url", endpoint)
    assert created.exit_code == 0, created.stderr
    client: Any = s3_client(endpoint)
    rules = client.get_bucket_cors(Bucket="fresh-bucket")["CORSRules"]
    assert rules[0]["AllowedMethods"] == ["GET", "HEAD"] and rules[0]["AllowedOrigins"] == ["*"]
    assert "warning" not in created.stderr
    client.put_bucket_acl(Bucket="fresh-bucket", ACL="public-read")
    public = run_cli("init-bucket", "s3://fresh-bucket", "--endpoint-url", endpoint)
    assert public.exit_code == 0
    assert (
        "warning: anyone may list bucket fresh-bucket (the ACL grants READ to AllUsers)"
        in public.stderr
    )


def test_init_bucket_public_read_serves_only_config(
    endpoint: str, bucket: str, state_file: Path
) -> None:
    """--public-read lets anyone GET config/* but not bookkeeping; a listable policy is warned about."""
    import json
    import urllib.error
    import urllib.request

    prepared = run_cli(
        "init-bucket", f"s3://{bucket}/site", "--public-read", "--endpoint-url", endpoint
    )
    assert prepared.exit_code == 0, prepared.stderr
    assert "warning" not in prepared.stderr
    assert (
        run_cli(
            "publish", state_file, "--target", f"s3://{bucket}/site", "--endpoint-url", endpoint
        ).exit_code
        == 0
    )
    with urllib.request.urlopen(f"{endpoint}/{bucket}/site/config/{KEY_G}", timeout=10) as response:
        assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{endpoint}/{bucket}/site/_publisher/manifest.json", timeout=10)
    assert denied.value.code == 403
    client: Any = s3_client(endpoint)
    listable = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:ListBucket"],
                "Resource": f"arn:aws:s3:::{bucket}",
            }
        ],
    }
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(listable))
    warned = run_cli("init-bucket", f"s3://{bucket}", "--endpoint-url", endpoint)
    assert "the bucket policy allows s3:ListBucket to everyone" in warned.stderr


def test_prune_leaves_objects_publisher_did_not_write(
    endpoint: str, bucket: str, tmp_path: Path
) -> None:
    """On S3 too, --prune deletes only what a manifest records; --prune-unmanaged adopts."""
    client: Any = s3_client(endpoint)
    state = many(3)
    path = dump_state(tmp_path / "s.yaml", state)
    args = ("--target", f"s3://{bucket}", "--endpoint-url", endpoint)
    assert run_cli("publish", path, *args).exit_code == 0
    client.put_object(Bucket=bucket, Key="config/README-notes", Body=b"mine")
    state["organizations"][0]["api_keys"][0]["revoked"] = True
    dump_state(path, state)
    result = run_cli("publish", path, *args, "--prune")
    assert result.exit_code == 0, result.stderr
    keys = set(stored(endpoint, bucket))
    assert "config/README-notes" in keys
    assert f"config/{state['organizations'][0]['api_keys'][0]['key']}" not in keys
    assert run_cli("publish", path, *args, "--prune-unmanaged").exit_code == 0
    assert "config/README-notes" not in set(stored(endpoint, bucket))


def test_s3_stale_lock_takeover_has_one_winner(endpoint: str, bucket: str) -> None:
    """30 rounds of two processes taking over an expired S3 lock: never two holders."""
    from publisher.targets.publish_lock import LockInfo
    from tests.race import racers

    client: Any = s3_client(endpoint)
    with racers(CREDENTIALS) as race:
        for round_ in range(30):
            expired = LockInfo("elsewhere", 1, f"t{round_}", time.time() - 999, time.time() - 1)
            client.put_object(Bucket=bucket, Key="_publisher/lock", Body=expired.encode())
            assert race.winners({"take": "s3", "endpoint": endpoint, "bucket": bucket}) == 1


def test_init_bucket_respects_block_public_access(
    endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Block Public Access on, --public-read says what to do and sets nothing; the explicit
    flag turns off the two policy blocks for this bucket only; the hint keeps the options."""
    client: Any = s3_client(endpoint)
    on = {name: True for name in PAB_NAMES}
    client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=on)
    url = f"s3://{bucket}/site"
    refused = run_cli("init-bucket", url, "--public-read", "--endpoint-url", endpoint)
    assert refused.exit_code == 2, refused.stderr
    assert "Block Public Access on (BlockPublicPolicy, RestrictPublicBuckets)" in refused.stderr
    assert "CloudFront with origin access control" in refused.stderr
    with pytest.raises(Exception, match="NoSuchBucketPolicy"):
        client.get_bucket_policy(Bucket=bucket)
    allowed = run_cli(
        "init-bucket", url, "--public-read", "--disable-block-public-access",
        "--endpoint-url", endpoint, "--region", "us-east-1",
    )  # fmt: skip
    assert allowed.exit_code == 0, allowed.stderr
    config = client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert config == {**on, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
    assert "site/config/*" in client.get_bucket_policy(Bucket=bucket)["Policy"]
    assert (
        f"Publish with: publisher publish STATE --target {url} --endpoint-url {endpoint} "
        "--region us-east-1" in allowed.stdout
    )


def test_init_bucket_explains_a_refused_policy(endpoint: str, bucket: str) -> None:
    """Where the store refuses the policy (account-wide Block Public Access, injected here
    since moto does not refuse), the error says why and what to do instead."""
    proxy = Proxy(endpoint, Faults(deny_put="?policy"))
    try:
        result = run_cli(
            "init-bucket", f"s3://{bucket}", "--public-read", "--endpoint-url", proxy.url
        )
    finally:
        proxy.close()
    assert result.exit_code == 4, result.stderr
    assert "access denied" in result.stderr and "origin access control" in result.stderr


PAB_NAMES = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
