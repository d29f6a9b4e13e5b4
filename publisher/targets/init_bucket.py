"""Prepare a bucket for `publisher init-bucket`: create it, set CORS, check it is not listable."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from ..aws import BucketSetup, Store
from ..errors import StorageError, UsageError
from ..settings import StorageSettings
from .s3_target import S3Location, parse_s3_url

CORS_RULE = {
    "ID": "publisher-config-read",
    "AllowedMethods": ["GET", "HEAD"],
    "AllowedOrigins": ["*"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag", "Cache-Control"],
    "MaxAgeSeconds": 86400,
}


@dataclass
class BucketReport:
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def public_read_policy(bucket: str, prefix: str) -> str:
    """Return a policy letting anyone GET `<prefix>config/*` and nothing else (no listing)."""
    statement = {
        "Sid": "PublisherPublicReadConfig",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}config/*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


_BLOCKING = ("BlockPublicPolicy", "RestrictPublicBuckets")


def prepare_bucket(
    url: str,
    storage: StorageSettings,
    *,
    create: bool = False,
    public_read: bool = False,
    allow_public_policy: bool = False,
) -> BucketReport:
    """Create (if asked) and configure the bucket of `url`; return what was done.

    A public policy is what AWS's Block Public Access (on for every new bucket since
    April 2023) refuses: it is read first, and turned off for this bucket only when
    `allow_public_policy` says so.
    """
    location = parse_s3_url(url)
    store = Store(storage.aws_options())
    bucket = BucketSetup(store.client("s3"), location.bucket, store.shown, store.setting)
    report = BucketReport()
    if not bucket.exists():
        if not create:
            raise StorageError(
                f"bucket {location.bucket} does not exist at {bucket.endpoint}: pass --create "
                f"to create it, or check the name and {store.setting}"
            )
        bucket.create(store.region)
        report.lines.append(f"Created bucket {location.bucket}")
    bucket.put_cors([CORS_RULE])
    report.lines.append(
        f"Set CORS on {location.bucket}: GET and HEAD from any origin "
        "(S3 applies CORS to the whole bucket; only config/ should be served)"
    )
    if public_read:
        _public_read(bucket, location, allow_public_policy, report)
    for reason in bucket.public_listing():
        report.warnings.append(
            f"anyone may list bucket {location.bucket} ({reason}): a public listing reveals "
            "every API key; allow public s3:GetObject on config/* only, never s3:ListBucket"
        )
    report.lines.append(
        f"Publish with: publisher publish STATE {publish_options(location, storage)}"
    )
    return report


def _public_read(
    bucket: BucketSetup, location: S3Location, allow_public_policy: bool, report: BucketReport
) -> None:
    """Set the policy that lets anyone GET config/*, after Block Public Access allows it."""
    blocks = bucket.public_access_block()
    blocking = [name for name in _BLOCKING if blocks.get(name)]
    if blocking and not allow_public_policy:
        raise UsageError(
            f"bucket {location.bucket} has Block Public Access on ({', '.join(blocking)}), "
            "so a public policy would be refused. On AWS, keep the bucket private and serve "
            "config/ through CloudFront with origin access control; or pass "
            "--disable-block-public-access to turn off those two settings for this bucket "
            "only (the bucket's objects under config/ become readable by anyone)"
        )
    if blocking:
        bucket.allow_public_policy(blocks)
        report.lines.append(
            f"Turned off {' and '.join(blocking)} for bucket {location.bucket} only "
            "(Block Public Access for ACLs stays as it was)"
        )
    try:
        bucket.put_policy(public_read_policy(location.bucket, location.prefix))
    except StorageError as exc:
        if "access denied" not in exc.message:
            raise
        raise StorageError(
            f"{exc.message}; if Block Public Access is on for the account, a public policy "
            "is refused whatever the bucket says: serve through CloudFront with origin "
            "access control instead"
        ) from None
    report.lines.append(
        f"Set a bucket policy: anyone may GET {location.prefix}config/*, nothing else "
        "(this replaces the bucket's policy)"
    )


def publish_options(location: object, storage: StorageSettings) -> str:
    """The options `publish` needs to reach the same bucket as this command did."""
    parts = [f"--target {location}"]
    for flag, value in (
        ("--endpoint-url", storage.endpoint_url),
        ("--region", storage.region),
        ("--profile", storage.profile),
    ):
        if value:
            parts.append(f"{flag} {shlex.quote(value)}")
    return " ".join(parts)
