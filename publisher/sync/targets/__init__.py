"""Where documents go: a local directory or S3-compatible storage, behind one interface."""

from __future__ import annotations

from pathlib import Path

from ...errors import UsageError
from ...redact import printable
from ...settings import StorageSettings
from .base import Target
from .local import LocalTarget

__all__ = ["LocalTarget", "Target", "open_target"]


def open_target(spec: str, storage: StorageSettings | None = None) -> Target:
    """Return the target a `--target` value names: `s3://bucket[/prefix]` or a directory."""
    storage = storage or StorageSettings()
    if not spec.strip():
        raise UsageError("--target is empty: give a directory or s3://bucket[/prefix]")
    if spec.startswith("s3://"):
        from ...aws import AwsOptions, S3Bucket, client
        from .s3 import S3Target, parse_s3_url

        location = parse_s3_url(spec)
        options = AwsOptions(
            storage.endpoint_url,
            storage.region,
            storage.profile,
            retry_mode=storage.retry_mode.value,
            pool_size=max(10, storage.concurrency),
        )
        endpoint = storage.endpoint_url or "AWS S3"
        bucket = S3Bucket(client("s3", options), location.bucket, endpoint)
        return S3Target(
            location,
            bucket,
            cache_control=storage.cache_control,
            concurrency=storage.concurrency,
            lock=storage.lock,
        )
    if "://" in spec or spec.lower().startswith("s3:"):
        scheme = spec.split(":", 1)[0]
        raise UsageError(
            f"--target {printable(spec)}: {printable(scheme)}: is not a target: use "
            "s3://bucket[/prefix] or a directory"
        )
    return LocalTarget(Path(spec))
