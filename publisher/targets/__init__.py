"""Where documents go: a local directory or S3-compatible storage, behind one interface."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..serve import DEFAULT_CACHE_CONTROL
from .base import Target
from .local import LocalTarget

__all__ = ["LocalTarget", "Target", "open_target"]


def open_target(
    spec: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    cache_control: str = DEFAULT_CACHE_CONTROL,
    concurrency: int = 32,
    lock: bool = True,
    retry_mode: str = "standard",
) -> Target:
    """Return the target a `--target` value names: `s3://bucket[/prefix]` or a directory."""
    if spec.startswith("s3://"):
        from ..aws import AwsOptions, S3Bucket, client
        from .s3 import S3Target, parse_s3_url

        location = parse_s3_url(spec)
        options = AwsOptions(
            endpoint_url, region, profile, retry_mode=retry_mode, pool_size=max(10, concurrency)
        )
        bucket = S3Bucket(client("s3", options), location.bucket, endpoint_url or "AWS S3")
        return S3Target(
            location, bucket, cache_control=cache_control, concurrency=concurrency, lock=lock
        )
    if "://" in spec:
        scheme = spec.split("://", 1)[0]
        raise UsageError(
            f"--target {spec}: {scheme}:// is not a target: use s3://bucket or a directory"
        )
    return LocalTarget(Path(spec))
