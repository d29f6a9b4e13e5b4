"""What each changed document changes, experiment by experiment: for a dry run and for a
publish asked to describe itself (`--report`).

The old bodies come from history (one GET per pack, however many keys share a body);
only where history has none is the live document read, once per key. Identical
(old, new) pairs are compared once.
"""

from __future__ import annotations

import hashlib

from ..bookkeeping.history import read_pack
from ..bookkeeping.manifest import Manifest
from ..documents.diff import ExperimentChange, diff_documents
from ..redact import key_hash
from ..targets import Target
from .plan import Put


def describe_changes(
    target: Target, manifest: Manifest, puts: list[Put]
) -> dict[str, list[ExperimentChange]]:
    """Key → its experiment-level changes, for every put of a changed document."""
    changed = [p for p in puts if p.reason == "changed"]
    old_sha = {
        p.key: manifest.documents.get(key_hash(p.key, manifest.salt)) if manifest.intact else None
        for p in changed
    }
    packs = {manifest.bodies[s] for s in old_sha.values() if s is not None and s in manifest.bodies}
    bodies: dict[str, bytes] = {}
    for generation in sorted(packs):
        bodies.update(read_pack(target, generation))
    cache: dict[tuple[str, str], list[ExperimentChange]] = {}
    diffs: dict[str, list[ExperimentChange]] = {}
    for put in changed:
        sha = old_sha[put.key]
        old = bodies.get(sha) if sha is not None else None
        if old is None:  # not in history: what is live now
            old = target.read_document(put.key)
            sha = hashlib.sha256(old).hexdigest() if old is not None else ""
        pair = (sha or "", put.document.sha256)
        if pair not in cache:
            cache[pair] = diff_documents(old, put.document.body)
        diffs[put.key] = cache[pair]
    return diffs
