"""Purge what a publish changed from the CDN, and remember a purge that failed."""

from __future__ import annotations

import hashlib
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


EVERY = "*"
"""A pending entry that stands for every document: the record of a failed purge is there
but cannot be read, or its hashes were made with a salt this target no longer has (its
manifest was lost or rebuilt since). Forgotten, the edge would go on serving what that
purge was for; so the next purge covers every document the publish knows."""


def purge_changed(
    purger: Purger,
    target: Bookkeeping,
    changed: list[str],
    known: Mapping[str, str],
    pending: list[str],
    salt: str,
) -> list[str]:
    """Purge the changed keys' paths and any left pending by a failed purge; return the paths.

    `known` maps each key's hash (the target's salted `key_hash`, with `salt`) → key for
    every key this publish knows. A failed purge is recorded under _publisher/ (as those
    hashes, with the salt's fingerprint) and retried next time.
    """
    keys = sorted(set(changed) | set(pending_keys(pending, known)))
    if not keys:
        if pending:
            target.write_meta(PENDING_PURGE, _pending_bytes([], salt))
        return []
    paths = [purger.edges.path(k) for k in keys]
    try:
        purger.purge(paths)
    except StorageError as exc:
        hashes = {k: h for h, k in known.items()}
        target.write_meta(PENDING_PURGE, _pending_bytes([hashes[k] for k in keys], salt))
        raise StorageError(
            f"the documents are published, but the CDN purge of {len(paths)} "
            f"{plural(len(paths), 'path')} failed: "
            f"{exc.message}; the next publish retries it (recorded in _publisher/{PENDING_PURGE})",
            [Problem("", f"/…/config/{key_label(k)}") for k in keys],
        ) from None
    if pending:
        target.write_meta(PENDING_PURGE, _pending_bytes([], salt))
    return paths


def pending_keys(pending: list[str], known: Mapping[str, str]) -> list[str]:
    """The keys a pending purge names (every known key for EVERY); those it cannot name
    (keys no longer in the state) are said in one line, and dropped: kept pending, they
    would stop every publish for good."""
    if EVERY in pending:
        return sorted(set(known.values()))
    unknown = sum(1 for h in pending if h not in known)
    if unknown:
        log.warning(
            "a failed purge left %d %s pending for keys no longer in the state: "
            "they cannot be named to purge again; purge them at the CDN by hand (or all of "
            "/config/) if the edge still serves them",
            unknown,
            plural(unknown, "path"),
        )
    return sorted({known[h] for h in pending if h in known})


def pending_count(pending: list[str]) -> str:
    """How much a pending purge covers, in words: "every document", "3 documents"."""
    if EVERY in pending:
        return "every document"
    return f"{len(pending)} {plural(len(pending), 'document')}"


def parse_pending(raw: bytes | None, salt: str) -> list[str]:
    """The key hashes (made with `salt`) a failed purge left to purge, as read from
    _publisher/pending-purge.json ([] for none); [EVERY] where they cannot be named."""
    if raw is None:
        return []
    found = decode_meta(raw, PENDING_PURGE, "pending", warn=False)
    ours = salt_id(salt)
    if found is not None and (not found["keys"] or found.get("salt_id", ours) == ours):
        return list(found["keys"])  # (a record from before salt_id: its salt is this one)
    why = "cannot be read" if found is None else "names keys by a salt since replaced"
    log.warning(
        "_publisher/%s %s: the purge it kept pending is taken to cover every document",
        PENDING_PURGE,
        why,
    )
    return [EVERY]


def salt_id(salt: str) -> str:
    """A fingerprint of the target's salt, kept beside the hashes made with it (the salt
    itself stays in the manifest alone)."""
    return hashlib.sha256(f"publisher salt id:{salt}".encode()).hexdigest()[:16]


def _pending_bytes(hashes: list[str], salt: str) -> bytes:
    return encode_meta({"keys": sorted(hashes), "salt_id": salt_id(salt)})
