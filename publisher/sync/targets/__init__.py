"""Where documents go: a local directory or S3-compatible storage, behind one interface."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ...redact import printable
from ...settings import StorageSettings, UploadClient
from .base import Target
from .local import LocalTarget

__all__ = ["LocalTarget", "Target", "open_target"]

log = logging.getLogger(__name__)


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
            pool_size=max(10, storage.concurrency or 64),
        )
        endpoint = storage.endpoint_url or "AWS S3"
        bucket = S3Bucket(client("s3", options), location.bucket, endpoint)
        return S3Target(
            location,
            bucket,
            cache_control=storage.cache_control,
            concurrency=storage.concurrency,
            lock=storage.lock,
            uploads=_native(storage, options, location.bucket, endpoint),
        )
    if "://" in spec or spec.lower().startswith("s3:"):
        scheme = spec.split(":", 1)[0]
        raise UsageError(
            f"--target {printable(spec)}: {printable(scheme)}: is not a target: use "
            "s3://bucket[/prefix] or a directory"
        )
    return LocalTarget(Path(spec))


def _native(
    storage: StorageSettings, options: Any, bucket: str, endpoint: str
) -> Callable[[], Any] | None:
    """How to make the native uploads, unless botocore's are asked for or must be: obstore
    missing, or a CA bundle of its own for an HTTPS store (botocore reads AWS_CA_BUNDLE)."""
    from ...aws import native

    https = not (storage.endpoint_url or "").startswith("http://")
    if storage.upload_client != UploadClient.native or not native.available():
        return None
    if https and os.environ.get("AWS_CA_BUNDLE"):
        log.info("AWS_CA_BUNDLE is set: uploading with botocore, which reads it")
        return None
    return partial(native.NativeUploads, bucket, options, endpoint)
