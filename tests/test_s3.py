"""The S3 target and CloudFront purge against moto's in-process `mock_aws`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

import publisher
from publisher.aws import CloudFront, S3Bucket, translate
from publisher.delivery.cdn import CloudFrontPurger
from publisher.documents.render import render_documents
from publisher.errors import (
    LockHeldError,
    PlanRefusedError,
    StorageError,
    TooManyInvalidationsError,
)
from publisher.redact import key_hash
from publisher.retry import Backoff
from publisher.settings import DEFAULT_CACHE_CONTROL, EdgePaths
from publisher.state import load_state
from publisher.targets.publish_lock import new_lock
from publisher.targets.s3_target import S3Location, S3Target, parse_s3_url
from tests.conftest import KEY_A, KEY_A_CHECKOUT, KEY_G, base_state, dump_state
from tests.s3util import BUCKET, CREDENTIALS


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def target(s3: Any, prefix: str = "", **kw: Any) -> S3Target:
    return S3Target(S3Location(BUCKET, prefix), S3Bucket(s3, BUCKET, "moto"), **kw)


def objects(s3: Any, prefix: str = "") -> dict[str, bytes]:
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in found}


def test_parse_s3_url() -> None:
    """s3://bucket[/prefix] splits into bucket and a normalized prefix; bad names are usage errors."""
    assert parse_s3_url("s3://my-bucket") == S3Location("my-bucket", "")
    assert parse_s3_url("s3://my-bucket/envs/prod/") == S3Location("my-bucket", "envs/prod/")
    for bad in ("s3://", "s3://UPPER", "s3://b", "s3://ok-bucket/a/../b"):
        with pytest.raises(publisher.PublisherError) as err:
            parse_s3_url(bad)
        assert err.value.exit_code == 2


def test_objects_headers_and_metadata(s3: Any, state_file: Path) -> None:
    """Documents land at <prefix>/config/<key> with content type, cache control and sha256 metadata."""
    publisher.publish(state_file, target(s3, "envs/prod/"))
    docs = render_documents(load_state(state_file)).documents
    stored = objects(s3, "envs/prod/config/")
    assert stored == {f"envs/prod/config/{k}": d.body for k, d in docs.items()}
    head = s3.head_object(Bucket=BUCKET, Key=f"envs/prod/config/{KEY_A}")
    assert head["ContentType"] == "application/json; charset=utf-8"
    assert head["CacheControl"] == DEFAULT_CACHE_CONTROL
    assert head["Metadata"] == {"sha256": hashlib.sha256(docs[KEY_A].body).hexdigest()}
    assert head["ETag"].strip('"') == hashlib.md5(docs[KEY_A].body).hexdigest()


def test_custom_cache_control(s3: Any, state_file: Path) -> None:
    """--cache-control sets the documents' Cache-Control."""
    publisher.publish(state_file, target(s3, cache_control="public, max-age=5"))
    assert (
        s3.head_object(Bucket=BUCKET, Key=f"config/{KEY_G}")["CacheControl"] == "public, max-age=5"
    )


def test_plan_from_listing(s3: Any, state_file: Path) -> None:
    """A republish finds everything unchanged by ETag; a change puts only the affected keys."""
    publisher.publish(state_file, target(s3))
    again = publisher.publish(state_file, target(s3))
    assert (again.plan.puts, again.plan.unchanged) == ([], 3)
    state = base_state()
    state["organizations"][1]["experiments"][0]["status"] = "running"
    state["organizations"][1]["experiments"][0]["phases"] = [{"coverage": 1, "weights": [0.5, 0.5]}]
    dump_state(state_file, state)
    changed = publisher.publish(state_file, target(s3))
    assert [p.key for p in changed.plan.puts] == [KEY_G]


class NoMd5Bucket(S3Bucket):
    """A store whose ETags are not MD5s (multipart, SSE-KMS, some S3-compatible stores)."""

    def list_page(
        self, prefix: str, after: str | None = None
    ) -> tuple[list[tuple[str, str]], bool]:
        objects, more = super().list_page(prefix, after)
        return [(name, "opaque-etag-2") for name, _ in objects], more


def test_manifest_fallback_when_etags_are_not_md5(s3: Any, state_file: Path) -> None:
    """Without MD5 ETags the plan compares with the manifest's sha256 per key."""
    tgt = S3Target(S3Location(BUCKET, ""), NoMd5Bucket(s3, BUCKET, "moto"))
    first = publisher.publish(state_file, tgt)
    assert first.plan.count("added") == 3
    assert publisher.publish(state_file, tgt).plan.puts == []
    state = base_state()
    state["organizations"][0]["experiments"][1]["status"] = "draft"
    dump_state(state_file, state)
    assert sorted(p.key for p in publisher.publish(state_file, tgt).plan.puts) == sorted(
        [KEY_A, KEY_A_CHECKOUT]
    )
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key="_publisher/manifest.json")["Body"].read()
    )
    salt = manifest["salt"]
    assert set(manifest["documents"]) == {key_hash(k, salt) for k in (KEY_A, KEY_A_CHECKOUT, KEY_G)}


def test_prune_deletes_only_owned_objects(s3: Any, state_file: Path) -> None:
    """--prune deletes revoked keys' objects, never other objects under config/ or elsewhere."""
    publisher.publish(state_file, target(s3))
    for key in ("config/README.txt", "config/sub/key_nested_00000001", "other/key_outside_0001"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"keep")
    state = base_state()
    state["organizations"][1]["api_keys"][0]["revoked"] = True
    dump_state(state_file, state)
    result = publisher.publish(state_file, target(s3), publisher.PublishOptions(prune=True))
    assert result.deleted == [KEY_G]
    keys = set(objects(s3))
    assert f"config/{KEY_G}" not in keys
    assert {"config/README.txt", "config/sub/key_nested_00000001", "other/key_outside_0001"} <= keys


def test_prune_guards_on_s3(s3: Any, state_file: Path) -> None:
    """The max-deletes and half guards refuse before anything is written."""
    publisher.publish(state_file, target(s3))
    state = base_state()
    state["organizations"] = state["organizations"][1:]
    dump_state(state_file, state)
    before = objects(s3, "config/")
    with pytest.raises(PlanRefusedError):
        publisher.publish(state_file, target(s3), publisher.PublishOptions(prune=True))
    with pytest.raises(PlanRefusedError):
        publisher.publish(
            state_file, target(s3), publisher.PublishOptions(prune=True, max_deletes=1)
        )
    assert objects(s3, "config/") == before
    publisher.publish(state_file, target(s3), publisher.PublishOptions(prune=True, force=True))
    assert list(objects(s3, "config/")) == [f"config/{KEY_G}"]


def test_lock_conditional_write(s3: Any) -> None:
    """The lock is a conditional write: a second holder gets LockHeldError; release frees it."""
    first, second = target(s3), target(s3)
    mine = new_lock(600)
    first.acquire_lock(mine)
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key="_publisher/lock")["Body"].read())
    assert stored["pid"] == mine.pid and stored["host"] == mine.host
    other = new_lock(600)
    other = type(other)("elsewhere", 4242, other.token, other.started_at, other.expires_at)
    with pytest.raises(LockHeldError) as held:
        second.acquire_lock(other)
    assert held.value.exit_code == 5
    assert f"pid {mine.pid}" in held.value.message
    first.refresh_lock(mine.renewed(900))
    first.release_lock(mine)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="_publisher/lock")
    second.acquire_lock(other)


def test_expired_lock_taken_over_with_if_match(s3: Any) -> None:
    """An expired lock is replaced (If-Match on its ETag) by the next publisher."""
    old = new_lock(600, now=1000.0)
    old = type(old)("crashed-host", 1, old.token, old.started_at, old.expires_at)
    s3.put_object(Bucket=BUCKET, Key="_publisher/lock", Body=old.encode())
    new = new_lock(600)
    target(s3).acquire_lock(new)
    body = s3.get_object(Bucket=BUCKET, Key="_publisher/lock")["Body"].read()
    assert json.loads(body)["token"] == new.token


def test_lock_taken_over_is_not_released_by_old_holder(s3: Any) -> None:
    """A holder whose lock was taken over cannot refresh it and does not delete the new one."""
    first = target(s3)
    mine = new_lock(600)
    first.acquire_lock(mine)
    theirs = new_lock(600).encode()
    s3.put_object(Bucket=BUCKET, Key="_publisher/lock", Body=theirs)  # a takeover elsewhere
    with pytest.raises(StorageError) as lost:
        first.refresh_lock(mine.renewed(900))
    assert "lost the lock" in lost.value.message
    first.release_lock(mine)
    assert s3.get_object(Bucket=BUCKET, Key="_publisher/lock")["Body"].read() == theirs


def test_no_lock_writes_no_lock_object(s3: Any, state_file: Path) -> None:
    """--no-lock publishes without touching _publisher/lock."""
    s3.put_object(Bucket=BUCKET, Key="_publisher/lock", Body=new_lock(600).encode())
    publisher.publish(state_file, target(s3, lock=False))
    assert f"config/{KEY_A}" in objects(s3)


def test_missing_bucket_is_a_clear_storage_error(s3: Any, state_file: Path) -> None:
    """A missing bucket exits 4 with the fix; nothing is published."""
    tgt = S3Target(
        S3Location("no-such-bucket", ""), S3Bucket(s3, "no-such-bucket", "http://s3.test")
    )
    with pytest.raises(StorageError) as err:
        publisher.publish(state_file, tgt)
    assert err.value.message.startswith(
        "bucket no-such-bucket does not exist at http://s3.test: create it"
    )


def client_error(code: str, status: int, headers: dict[str, str] | None = None) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    return ClientError(response, "PutObject")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            client_error("AccessDenied", 403),
            "access denied to bucket b: the credentials need s3:ListBucket",
        ),
        (
            client_error("PermanentRedirect", 301, {"x-amz-bucket-region": "eu-west-1"}),
            "bucket b is in another region than the client's: pass --region eu-west-1",
        ),
        (client_error("AuthorizationHeaderMalformed", 400), "pass the bucket's --region"),
        (
            client_error("InvalidAccessKeyId", 403),
            "the credentials were rejected by https://e (InvalidAccessKeyId)",
        ),
        (client_error("NoSuchBucket", 404), "bucket b does not exist at https://e"),
    ],
)
def test_error_translation(error: ClientError, expected: str) -> None:
    """Each error users hit becomes one line that names the fix."""
    assert expected in translate(error, "bucket b", "https://e").message


@pytest.fixture
def distribution(s3: Any) -> str:
    cf = boto3.client("cloudfront", region_name="us-east-1")
    config = {
        "CallerReference": "test",
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "s3",
                    "DomainName": f"{BUCKET}.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "s3",
            "ViewerProtocolPolicy": "allow-all",
            "MinTTL": 0,
        },
        "Comment": "",
        "Enabled": True,
    }
    return str(cf.create_distribution(DistributionConfig=config)["Distribution"]["Id"])


def invalidation_paths(distribution: str) -> list[list[str]]:
    cf = boto3.client("cloudfront", region_name="us-east-1")
    items = cf.list_invalidations(DistributionId=distribution)["InvalidationList"].get("Items", [])
    out = []
    for item in items:
        got = cf.get_invalidation(DistributionId=distribution, Id=item["Id"])
        out.append(sorted(got["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]))
    return out


def test_cloudfront_one_batch_for_changed_and_deleted(
    s3: Any, state_file: Path, distribution: str
) -> None:
    """One invalidation per publish, listing exactly the changed and deleted paths as the
    edge serves them (`/config/<key>`: the generated distribution maps the prefix)."""
    cf = boto3.client("cloudfront", region_name="us-east-1")
    tgt = target(s3, "site/")
    purger = CloudFrontPurger(CloudFront(cf, distribution), EdgePaths())
    publisher.publish(state_file, tgt, cdn=purger)
    assert invalidation_paths(distribution) == [
        sorted(f"/config/{k}" for k in (KEY_A, KEY_A_CHECKOUT, KEY_G))
    ]
    publisher.publish(state_file, tgt, cdn=purger)  # no change: no invalidation
    assert len(invalidation_paths(distribution)) == 1
    state = base_state()
    state["organizations"][0]["api_keys"][1]["revoked"] = True
    state["organizations"][1]["experiments"][0]["url"] = "^/g"
    dump_state(state_file, state)
    publisher.publish(state_file, tgt, publisher.PublishOptions(prune=True), cdn=purger)
    batches = invalidation_paths(distribution)
    assert len(batches) == 2
    assert sorted([f"/config/{KEY_A_CHECKOUT}", f"/config/{KEY_G}"]) in batches


def test_cloudfront_wildcard_above_threshold(s3: Any, tmp_path: Path, distribution: str) -> None:
    """More changed paths than the threshold give a single wildcard <edge prefix>/config/*."""
    state = base_state()
    state["organizations"][1]["api_keys"] = [{"key": f"key_many_{i:010d}"} for i in range(12)]
    path = dump_state(tmp_path / "s.yaml", state)
    cf = boto3.client("cloudfront", region_name="us-east-1")
    tgt = target(s3, "site/")
    purger = CloudFrontPurger(CloudFront(cf, distribution), EdgePaths("/site"), threshold=10)
    publisher.publish(path, tgt, cdn=purger)
    assert invalidation_paths(distribution) == [["/site/config/*"]]


class BusyCloudFront:
    """CloudFront that answers TooManyInvalidationsInProgress a given number of times."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.batches: list[list[str]] = []

    def invalidate(self, paths: list[str]) -> str:
        if self.busy:
            self.busy -= 1
            raise TooManyInvalidationsError("busy")
        self.batches.append(list(paths))
        return "I1"

    def wait(self, invalidation_id: str, timeout: float) -> None:
        raise AssertionError("not asked to wait")


def test_cloudfront_backoff() -> None:
    """TooManyInvalidationsInProgress is retried with exponential backoff, then gives up clearly."""
    slept: list[float] = []
    api = BusyCloudFront(busy=3)
    CloudFrontPurger(api, EdgePaths(), sleep=slept.append).purge(["/config/a"])  # type: ignore[arg-type]
    assert slept == [1.0, 2.0, 4.0]
    assert api.batches == [["/config/a"]]
    stuck = BusyCloudFront(busy=99)
    with pytest.raises(StorageError) as err:
        CloudFrontPurger(
            stuck, EdgePaths(), backoff=Backoff(3, first=1.0), sleep=slept.append
        ).purge(["/config/a"])  # type: ignore[arg-type]
    assert "too many invalidations in progress (tried 3 times)" in err.value.message
