"""Desired documents vs what is live → a Plan of puts, deletes and unchanged (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from ..documents.render import Document
from ..errors import PlanRefusedError
from ..redact import key_hash, plural
from ..targets.interface import LiveObject


@dataclass(frozen=True)
class Put:
    key: str
    document: Document
    reason: Literal["added", "changed"]


@dataclass(frozen=True)
class Plan:
    """What a publish will do: the same data drives --dry-run and a real run."""

    puts: list[Put] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    """Live documents of keys gone from the state that the publisher wrote (its manifest
    records them): deleted with --prune."""
    unchanged: int = 0
    live: int = 0
    unmanaged: list[str] = field(default_factory=list)
    """Live documents the publisher never wrote: left alone unless --prune-unmanaged."""
    hidden: int = 0
    """Planned from the manifest: live documents of keys the state no longer names."""
    headers: tuple[tuple[str, str | None, str], ...] = ()
    """The documents' headers that change (name, before, after): every document is put
    again, unchanged bytes too."""

    def count(self, reason: str) -> int:
        return sum(1 for p in self.puts if p.reason == reason)


def rewrite_all(
    plan: Plan, desired: Mapping[str, Document], headers: Iterable[tuple[str, str | None, str]]
) -> Plan:
    """The plan with every desired document put, as its headers change (pure)."""
    putting = {p.key for p in plan.puts}
    again = [Put(k, d, "changed") for k, d in sorted(desired.items()) if k not in putting]
    return replace(plan, puts=[*plan.puts, *again], unchanged=0, headers=tuple(headers))


class StaleReuse(Exception):
    """Organizations were reused (not rendered again), but this plan needs every document:
    a listing to compare with, or a manifest changed since. Read the state in full."""


def plan_sync(
    desired: Mapping[str, Document],
    live: Mapping[str, LiveObject],
    manifest: Mapping[str, str] | None = None,
    *,
    adopt_unmanaged: bool = False,
    salt: str,
) -> Plan:
    """Compare desired documents with live objects (MD5, else the manifest's sha256).

    Only documents the manifest records are ever planned for deletion; with
    `adopt_unmanaged` the others are too (a migration from another tool).
    """
    manifest = manifest or {}
    puts: list[Put] = []
    unchanged = 0
    for key in sorted(desired):
        doc = desired[key]
        found = live.get(key)
        if found is None:
            puts.append(Put(key, doc, "added"))
        elif _same(found, doc, manifest, key_hash(key, salt)):
            unchanged += 1
        else:
            puts.append(Put(key, doc, "changed"))
    gone = sorted(key for key in live if key not in desired)
    if adopt_unmanaged:
        return Plan(puts, gone, unchanged, len(live))
    deletes = [key for key in gone if key_hash(key, salt) in manifest]
    unmanaged = [key for key in gone if key_hash(key, salt) not in manifest]
    return Plan(puts, deletes, unchanged, len(live), unmanaged)


def plan_from_manifest(
    desired: Mapping[str, Document],
    manifest: Mapping[str, str],
    known: Iterable[str],
    salt: str,
    reused: frozenset[str] = frozenset(),
) -> Plan:
    """Plan against the manifest instead of a listing: O(keys of the state), no request.

    A document is unchanged when the manifest records its sha256 under the key's hash.
    Deletes can name only keys the state still knows (revoked ones): the manifest holds
    no raw key. `Plan.hidden` counts the manifest's documents of keys the state no longer
    knows at all (a prune of those needs a listing to learn their names). `reused`: key
    hashes of organizations not rendered again, unchanged by definition.
    """
    puts: list[Put] = []
    unchanged = len(reused)
    seen: set[str] = set(reused)
    for key in sorted(desired):
        doc = desired[key]
        hashed = key_hash(key, salt)
        seen.add(hashed)
        recorded = manifest.get(hashed)
        if recorded is None:
            puts.append(Put(key, doc, "added"))
        elif recorded == doc.sha256:
            unchanged += 1
        else:
            puts.append(Put(key, doc, "changed"))
    deletes = []
    for key in sorted(set(known) - set(desired)):
        hashed = key_hash(key, salt)
        seen.add(hashed)
        if hashed in manifest:
            deletes.append(key)
    hidden = sum(1 for hashed in manifest if hashed not in seen)
    return Plan(puts, deletes, unchanged, len(manifest), hidden=hidden)


def _same(found: LiveObject, doc: Document, manifest: Mapping[str, str], hashed: str) -> bool:
    if found.md5 is not None:
        return found.md5 == doc.md5
    return manifest.get(hashed) == doc.sha256


def check_deletes(plan: Plan, *, max_deletes: int, force: bool) -> None:
    """Refuse a prune that deletes over `max_deletes` or more than half of what is live."""
    count = len(plan.deletes)
    if force or count == 0:
        return
    if count > max_deletes:
        raise PlanRefusedError(
            f"refusing to delete {count} {plural(count, 'document')}, "
            f"more than --max-deletes {max_deletes}: "
            "check the state, then raise --max-deletes or pass --force; nothing was published"
        )
    if count * 2 > plan.live:
        raise PlanRefusedError(
            f"refusing to delete {count} of {plan.live} live documents (more than half): "
            "check the state and --target, then pass --force; nothing was published"
        )


def keep_changed_by_others(
    plan: Plan,
    manifest: Mapping[str, str],
    live_sha256: Mapping[str, str | None],
    salt: str,
) -> Plan:
    """Move deletes whose live bytes are not what publisher wrote to unmanaged.

    `live_sha256` maps each delete to the sha256 of its live document (None: unknown).
    A document another tool rewrote since is no longer publisher's to delete.
    """
    ours = [k for k in plan.deletes if live_sha256.get(k) == manifest.get(key_hash(k, salt))]
    if len(ours) == len(plan.deletes):
        return plan
    theirs = [k for k in plan.deletes if k not in set(ours)]
    return replace(plan, deletes=ours, unmanaged=sorted([*plan.unmanaged, *theirs]))
