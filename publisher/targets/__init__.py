"""Where documents go: a local directory or S3-compatible storage, behind one interface."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..redact import printable
from ..settings import StorageSettings, UploadClient
from .directory import LocalTarget
from .interface import Target

__all__ = ["LocalTarget", "Target", "open_target", "origin_url"]

log = logging.getLogger(__name__)


def open_target(spec: str, storage: StorageSettings | None = None) -> Target:
    """Return the target a `--target` value names: `s3://bucket[/prefix]` or a directory."""
    storage = storage or StorageSettings()
    if not spec.strip():
        raise UsageError("--target is empty: give a directory or s3://bucket[/prefix]")
    if spec.startswith("s3://"):
        from ..aws import S3Bucket, Store
        from .s3_target import S3Target, parse_s3_url

        location = parse_s3_url(spec)
        store = Store(storage.aws_options(pool_size=max(10, storage.concurrency or 64)))
        for line in store.describe():
            log.info("store: %s", line)
        bucket = S3Bucket(store.client("s3"), location.bucket, store.shown, store.setting)
        return S3Target(
            location,
            bucket,
            cache_control=storage.cache_control,
            concurrency=storage.concurrency,
            lock=storage.lock,
            uploads=_native(storage, store, bucket, location.prefix),
        )
    if "://" in spec or spec.lower().startswith("s3:"):
        scheme = spec.split(":", 1)[0]
        raise UsageError(
            f"--target {printable(spec)}: {printable(scheme)}: is not a target: use "
            "s3://bucket[/prefix] or a directory"
        )
    return LocalTarget(Path(spec))


def _native(
    storage: StorageSettings, store: Any, bucket: Any, prefix: str
) -> Callable[[], Any] | None:
    """How to make the native uploads (aimed where botocore sends, or None: botocore's),
    unless botocore's are asked for."""
    if storage.upload_client != UploadClient.native:
        return None
    from ..aws import native

    return partial(native.native_uploads, store, bucket.s3, bucket.bucket, f"{prefix}config/")


SERVE_ORIGIN = "http://127.0.0.1:3100"
"""Where `publisher serve` answers by default: a directory target's origin."""


def origin_url(spec: str, storage: StorageSettings | None = None) -> str:
    """The URL a cache in front fetches the target's documents from, up to `config/`: the
    bucket (with its prefix) as this store's requests address it, or `publisher serve`
    of a directory."""
    if not spec.startswith("s3://"):
        open_target(spec, storage)  # a malformed value is refused as publish refuses it
        return SERVE_ORIGIN
    from ..aws import Store
    from .s3_target import parse_s3_url

    location = parse_s3_url(spec)
    store = Store((storage or StorageSettings()).aws_options())
    url: str = store.object_url(location.bucket, location.prefix)
    return url.rstrip("/")
