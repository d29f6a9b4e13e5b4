"""What each changed document changes, experiment by experiment: for a dry run and for a
real publish (its text, --json, --markdown and --report say it).

The old bodies come from history (one GET per pack, however many keys share a body),
except when only a few bodies of a large pack are wanted (the daily change after a
large cold publish, whose pack holds every body): those few are read from the live
documents, one GET each, rather than the whole pack. Where history has none, the live
document is read, once per distinct old body. Identical (old, new) pairs are compared
once.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from ..bookkeeping.history import read_pack
from ..bookkeeping.manifest import Manifest
from ..documents.diff import ExperimentChange, diff_documents
from ..redact import key_hash
from ..targets import Target
from .plan import Put

PACK_RATIO = 64
"""A pack holding this many times the bodies wanted of it is not read for them..."""
FEW_LIVE = 8
"""... as long as no more than this many bodies are read live instead (each a request)."""


def describe_changes(
    target: Target, manifest: Manifest, puts: list[Put]
) -> dict[str, list[ExperimentChange]]:
    """Key → its experiment-level changes, for every put of a changed document."""
    changed = [p for p in puts if p.reason == "changed"]
    old_sha = {
        p.key: manifest.documents.get(key_hash(p.key, manifest.salt)) if manifest.intact else None
        for p in changed
    }
    bodies = _kept_bodies(target, manifest, {s for s in old_sha.values() if s is not None})
    cache: dict[tuple[str, str], list[ExperimentChange]] = {}
    diffs: dict[str, list[ExperimentChange]] = {}
    for put in changed:
        sha = old_sha[put.key]
        old = bodies.get(sha) if sha is not None else None
        if old is None:  # not read from history: what is live now
            old = target.read_document(put.key)
            live = hashlib.sha256(old).hexdigest() if old is not None else ""
            if old is not None and live == sha:  # the next key with this body reads no more
                bodies[live] = old
            sha = live
        pair = (sha or "", put.document.sha256)
        if pair not in cache:
            cache[pair] = diff_documents(old, put.document.body)
        diffs[put.key] = cache[pair]
    return diffs


def _kept_bodies(target: Target, manifest: Manifest, wanted: set[str]) -> dict[str, bytes]:
    """The `wanted` bodies history keeps, pack by pack; a large pack of which only a few
    are wanted is left out (those are read live, which costs less)."""
    per_pack: dict[int, set[str]] = {}
    for sha in wanted:
        if sha in manifest.bodies:
            per_pack.setdefault(manifest.bodies[sha], set()).add(sha)
    sizes = Counter(manifest.bodies.values())
    skipped = {g for g, shas in per_pack.items() if len(shas) * PACK_RATIO <= sizes[g]}
    if sum(len(per_pack[g]) for g in skipped) > FEW_LIVE:
        skipped = set()
    bodies: dict[str, bytes] = {}
    for generation in sorted(set(per_pack) - skipped):
        bodies.update(read_pack(target, generation))
    return bodies
