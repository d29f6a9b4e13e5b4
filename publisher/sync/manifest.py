"""The generation manifest under _publisher/: what was published, keys only as sha256."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ..redact import key_hash

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    generation: int = 0
    documents: dict[str, str] = field(default_factory=dict)
    """sha256(api key) → sha256(document) for every document left live."""
    state_sha256: str | None = None


def parse_manifest(raw: bytes | None) -> Manifest:
    """Parse the manifest; an unreadable one counts as none (the listing still rules)."""
    if raw is None:
        return Manifest()
    try:
        data = json.loads(raw)
        docs = data["documents"]
        if not isinstance(docs, dict):
            raise TypeError("documents is not a mapping")
        docs = {str(k): str(v) for k, v in docs.items()}
        return Manifest(int(data["generation"]), docs, data.get("state_sha256"))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring an unreadable %s: %s", MANIFEST, exc)
        return Manifest()


def manifest_documents(
    previous: Manifest, published: Mapping[str, str], left_live: list[str]
) -> dict[str, str]:
    """Return sha256(key) → sha256(document) for what is live after this publish.

    `published` maps each key to its document's sha256; `left_live` are keys still
    live but no longer in the state (not pruned), whose previous entries are kept.
    """
    documents = {key_hash(k): sha for k, sha in published.items()}
    for key in left_live:
        old = previous.documents.get(key_hash(key))
        if old is not None:
            documents[key_hash(key)] = old
    return dict(sorted(documents.items()))


def build_manifest(
    previous: Manifest,
    documents: dict[str, str],
    *,
    state_sha256: str,
    counts: Mapping[str, int],
    extra: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> tuple[int, bytes, bytes]:
    """Return (generation, manifest bytes, generation summary bytes)."""
    generation = previous.generation + 1
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    summary: dict[str, Any] = {
        "version": 1,
        "generation": generation,
        "published_at": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "state_sha256": state_sha256,
        "counts": dict(counts),
        **(extra or {}),
    }
    manifest = {**summary, "documents": documents}
    return generation, _dump(manifest), _dump(summary)


def _dump(value: Any) -> bytes:
    return (
        json.dumps(value, separators=(",", ":")).encode() + b"\n"
    )  # the C encoder: fast at 100k keys


class MetaWriter(Protocol):
    def write_meta(self, name: str, body: bytes) -> None: ...


def record_generation(
    target: MetaWriter,
    previous: Manifest,
    documents: dict[str, str],
    *,
    state_sha256: str,
    counts: Mapping[str, int],
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Write a new generation when anything changed; return the generation now live."""
    if documents == previous.documents and state_sha256 == previous.state_sha256:
        return previous.generation  # nothing changed: no new generation
    generation, body, summary = build_manifest(
        previous, documents, state_sha256=state_sha256, counts=counts, extra=extra
    )
    target.write_meta(MANIFEST, body)
    target.write_meta(f"generations/{generation:08d}.json", summary)
    return generation
