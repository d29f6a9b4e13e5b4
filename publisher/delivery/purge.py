"""Purge what a publish changed from the CDN, and remember a purge that failed."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ..errors import Problem, StorageError, UsageError
from ..meta_json import decode_meta, encode_meta
from ..redact import key_label, plural
from ..settings import CdnKind, CdnSettings, StorageSettings
from .cdn import CloudFrontPurger, HttpPurger, Purger
from .target_files import Bookkeeping

PENDING_PURGE = "pending-purge.json"
log = logging.getLogger("publisher.purge")


def make_purger(
    cdn: CdnSettings, target: Bookkeeping, storage: StorageSettings | None = None
) -> Purger | None:
    """Return the purge adapter `cdn` names (None for no CDN), or raise a usage error."""
    if cdn.kind == CdnKind.none:
        if cdn.distribution_id or cdn.purge_urls:
            raise UsageError(
                "--distribution-id and --purge-url need --cdn cloudfront or http-purge"
            )
        return None
    if cdn.kind == CdnKind.cloudfront:
        if not cdn.distribution_id:
            raise UsageError("--cdn cloudfront needs --distribution-id")
        from ..aws import CloudFront, Store

        storage = storage or StorageSettings()
        store = Store(storage.aws_options())
        api = CloudFront(store.client("cloudfront"), cdn.distribution_id)
        edges = cdn.edge_paths
        return CloudFrontPurger(api, edges, threshold=cdn.invalidation_threshold, wait=cdn.wait)
    if not cdn.purge_urls:
        raise UsageError("--cdn http-purge needs at least one --purge-url")
    for url in cdn.purge_urls:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--purge-url {url}: must start with http:// or https://")
    return HttpPurger(cdn.purge_urls, cdn.edge_paths)


def purge_changed(
    purger: Purger,
    target: Bookkeeping,
    changed: list[str],
    known: Mapping[str, str],
    pending: list[str],
) -> list[str]:
    """Purge the changed keys' paths and any left pending by a failed purge; return the paths.

    `known` maps each key's hash (the target's salted `key_hash`) → key for every key
    this publish knows. A failed purge is recorded under _publisher/ (as those hashes)
    and retried next time.
    """
    warn_unnamed(pending, known)  # kept pending, they would stop every publish for good
    keys = sorted(set(changed) | {known[h] for h in pending if h in known})
    if not keys:
        if pending:
            target.write_meta(PENDING_PURGE, _pending_bytes([]))
        return []
    paths = [purger.edges.path(k) for k in keys]
    try:
        purger.purge(paths)
    except StorageError as exc:
        hashes = {k: h for h, k in known.items()}
        target.write_meta(PENDING_PURGE, _pending_bytes([hashes[k] for k in keys]))
        raise StorageError(
            f"the documents are published, but the CDN purge of {len(paths)} "
            f"{plural(len(paths), 'path')} failed: "
            f"{exc.message}; the next publish retries it (recorded in _publisher/{PENDING_PURGE})",
            [Problem("", f"/…/config/{key_label(k)}") for k in keys],
        ) from None
    if pending:
        target.write_meta(PENDING_PURGE, _pending_bytes([]))
    return paths


def warn_unnamed(pending: list[str], known: Mapping[str, str]) -> None:
    """Say, in one line, how many pending paths belong to keys no longer in the state."""
    unknown = sum(1 for h in pending if h not in known)
    if unknown:
        log.warning(
            "a failed purge left %d %s pending for keys no longer in the state: "
            "they cannot be named to purge again; purge them at the CDN by hand (or all of "
            "/config/) if the edge still serves them",
            unknown,
            plural(unknown, "path"),
        )


def read_pending(target: Bookkeeping) -> list[str]:
    """Return the key hashes a failed purge left to purge."""
    found = decode_meta(target.read_meta(PENDING_PURGE), PENDING_PURGE, "pending")
    return list(found["keys"]) if found else []


def _pending_bytes(hashes: list[str]) -> bytes:
    return encode_meta({"keys": sorted(hashes)})
