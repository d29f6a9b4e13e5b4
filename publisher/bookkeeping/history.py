"""Generations kept so that any of them can be restored without the state that made it.

Under `_publisher/`, never a raw key:

- `bodies/<N>.json`: a pack of the distinct document bodies generation N was the first
  to publish, each kept once (one request per generation, not one per body: a cold
  publish of 100,000 keys adds one object, not 30,000); the manifest says which pack
  holds each body.
- `generations/<N>.json`: each generation's summary (time, host, user, kind, the
  state's sha256, counts, whether the purge and the webhooks completed) and its
  `changes` against the generation before: the key's salted hash (as in the manifest)
  → [body sha256, its stored label], or null for a document deleted.
- `history/base-<B>.json`: the documents live at B, the oldest generation kept.

A generation's documents are the base with every later generation's changes applied.
A publish records O(changes); every `COLLECT_EVERY` generations past `--keep-generations`
the base moves forward, and once the manifest names the new base, the records and
bodies no kept generation needs are deleted (under the publish lock). A crash at any
point leaves a manifest whose base and records all exist.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from ..documents.render import Document
from ..errors import StorageError, UsageError
from ..meta_json import decode_meta, encode_meta
from ..redact import key_hash, stored_label
from ..settings import DEFAULT_KEEP_GENERATIONS
from ..threads import bounded
from .manifest import History, Manifest, generation_name

log = logging.getLogger(__name__)

COLLECT_EVERY = 10
Entry = list[str]  # [body sha256, label]
Documents = dict[str, Entry]


class Meta(Protocol):
    def read_meta(self, name: str) -> bytes | None: ...
    def write_meta(self, name: str, body: bytes) -> None: ...
    def delete_meta(self, names: Sequence[str]) -> None: ...


def pack_name(generation: int) -> str:
    return f"bodies/{generation:08d}.json"


def read_pack(target: Meta, generation: int) -> dict[str, bytes]:
    """The bodies of one pack, by sha256 (each checked against its sha256)."""
    name = pack_name(generation)
    found = decode_meta(target.read_meta(name), name, "pack") or {"bodies": {}}
    bodies = {sha: text.encode() for sha, text in found["bodies"].items()}
    return {sha: b for sha, b in bodies.items() if hashlib.sha256(b).hexdigest() == sha}


def base_name(generation: int) -> str:
    return f"history/base-{generation:08d}.json"


def changes(
    before: Mapping[str, str], after: Mapping[str, str], labels: Mapping[str, str]
) -> dict[str, Entry | None]:
    """key hash → [body sha256, label] for each document new or changed, None for each
    document gone (pure)."""
    found: dict[str, Entry | None] = {
        h: [sha, labels.get(h, "")] for h, sha in after.items() if before.get(h) != sha
    }
    found.update((h, None) for h in before if h not in after)
    return found


def replay(base: Documents, records: Iterable[Mapping[str, Entry | None]]) -> Documents:
    """The documents after applying each record's changes to `base`, in order (pure)."""
    documents = dict(base)
    for record in records:
        for h, entry in record.items():
            if entry is None:
                documents.pop(h, None)
            else:
                documents[h] = entry
    return documents


@dataclass(frozen=True)
class Change:
    """What kind of generation is recorded (publish, rollback), the keys it put (their
    labels go with its changes), and whether a purge and webhooks are to follow
    ("pending") or not ("none")."""

    kind: str
    changed_keys: Sequence[str] = ()
    delivery: tuple[str, str] = ("none", "none")


def record(
    target: Meta,
    previous: Manifest,
    documents: Mapping[str, str],
    live: Mapping[str, Document],
    change: Change,
    keep: int = DEFAULT_KEEP_GENERATIONS,
) -> tuple[History, list[str]]:
    """Keep what the next generation needs to be restored: the bodies not yet kept, its
    changes, a base when there is none (or the last manifest could not be trusted) or
    when it is due to move. Return the history for its manifest, and what to delete
    once that manifest is written. `live` maps keys to the documents put or left live."""
    fresh = previous.history_base is None or not previous.intact  # a base of every key
    generation = previous.generation + 1
    if fresh:  # the manifest lost or damaged: never write over an earlier record
        generation = next_free(target, generation)
    bodies = dict(previous.bodies)
    new = {d.sha256: d.body.decode() for d in live.values() if d.sha256 not in bodies}
    if new:
        target.write_meta(pack_name(generation), encode_meta({"bodies": dict(sorted(new.items()))}))
        bodies.update((sha, generation) for sha in new)
    del new  # the bodies' text (tens of MB at scale) is not held while the base is made
    salt = previous.salt
    named = live if fresh else change.changed_keys
    labels = {key_hash(k, salt): stored_label(k) for k in named}
    changed = changes(previous.documents, documents, labels)
    summary: dict[str, Any] = {"kind": change.kind, "host": socket.gethostname(), "user": _user()}
    purge, webhooks = change.delivery
    summary.update(purge=purge, webhooks=webhooks, changes=changed)
    base = previous.history_base
    garbage: list[str] = []
    if base is None or fresh:
        full = {h: [sha, labels.get(h, "")] for h, sha in documents.items()}
        _write_base(target, generation, full)
        return History(summary, bodies, generation, generation), garbage
    if generation - base + 1 >= keep + COLLECT_EVERY:
        new_base = generation - keep + 1
        records = [*_records(target, base + 1, generation - 1), changed]
        moved = replay(_read_base(target, base), records[: new_base - base])
        _write_base(target, new_base, moved)
        needed = {e[0] for e in moved.values()} | set(documents.values())
        needed |= {e[0] for r in records[new_base - base :] for e in r.values() if e}
        packs = set(bodies.values())
        bodies = {sha: pack for sha, pack in bodies.items() if sha in needed}
        garbage = [base_name(base), *map(generation_name, range(base, new_base))]
        garbage += [pack_name(n) for n in sorted(packs - set(bodies.values()))]
        log.info("history: keeping generations %d-%d", new_base, generation)
        base = new_base
    return History(summary, bodies, base), garbage


def reads_ahead(previous: Manifest, keep: int = DEFAULT_KEEP_GENERATIONS) -> list[str]:
    """What `record` will read for the generation after `previous`: the next record (a
    fresh history never writes over one), or the base and records a move of the base
    replays. Read while the documents upload (WriteBehind), they cost no round trip."""
    generation = previous.generation + 1
    base = previous.history_base
    if base is None or not previous.intact:
        return [generation_name(generation)]
    if generation - base + 1 >= keep + COLLECT_EVERY:
        return [base_name(base), *map(generation_name, range(base + 1, generation))]
    return []


def _records(target: Meta, first: int, last: int) -> list[dict[str, Entry | None]]:
    """The changes of generations `first` to `last`, read side by side."""
    found = []
    numbers = range(first, last + 1)
    reads = bounded([partial(read_record, target, n) for n in numbers])
    for n, one in zip(numbers, reads, strict=True):
        if one is None or not isinstance(one.get("changes"), dict):
            raise StorageError(f"the record of generation {n} is missing or unreadable")
        found.append(one["changes"])
    return found


def note_delivery(target: Meta, generation: int, purge: str, webhooks: str) -> None:
    """Say in a generation's record whether its CDN purge and webhooks completed
    ("done", "failed" or "none")."""
    found = read_record(target, generation)
    if found is not None:
        found.update(purge=purge, webhooks=webhooks)
        target.write_meta(generation_name(generation), encode_meta(found))


@dataclass(frozen=True)
class Generation:
    """One line of `publisher history`."""

    generation: int
    time: str | None
    kind: str
    host: str | None
    user: str | None
    state_sha256: str | None
    counts: dict[str, int]
    purge: str | None
    webhooks: str | None
    restorable: bool


def generations(target: Meta, manifest: Manifest, limit: int) -> list[Generation]:
    """The newest `limit` generations whose records exist, newest first."""
    found = []
    newest = manifest.generation or next_free(target, 1) - 1  # no manifest: the records
    oldest = max(1, newest - limit + 1)
    for n in range(newest, oldest - 1, -1):
        one = read_record(target, n)
        if one is None:
            continue
        counts = one.get("counts")
        found.append(
            Generation(
                n,
                _text(one.get("published_at")),
                _text(one.get("kind")) or "publish",
                _text(one.get("host")),
                _text(one.get("user")),
                _text(one.get("state_sha256")),
                {k: v for k, v in counts.items() if isinstance(v, int)}
                if isinstance(counts, dict)
                else {},
                _text(one.get("purge")),
                _text(one.get("webhooks")),
                manifest.history_base is not None and n >= manifest.history_base,
            )
        )
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def next_free(target: Meta, generation: int, most: int = 100_000) -> int:
    """The first generation from `generation` on with no record yet."""
    while read_record(target, generation) is not None and most > 0:
        generation, most = generation + 1, most - 1
    return generation


def read_record(target: Meta, generation: int) -> dict[str, Any] | None:
    """A generation's record as written (None: missing, or not a record)."""
    name = generation_name(generation)
    found: dict[str, Any] | None = decode_meta(target.read_meta(name), name, "record")
    return found


def check_kept(manifest: Manifest, generation: int) -> None:
    """Raise a usage error unless `generation` can be restored from what is kept."""
    base, newest = manifest.history_base, manifest.generation
    if base is None or not manifest.intact:
        raise UsageError(
            "no restorable history here: nothing published with history kept, or the "
            "manifest is missing or damaged (publish once to start it again)"
        )
    if generation > newest:
        raise UsageError(f"generation {generation} does not exist: the newest is {newest}")
    if generation < base:
        kept = f"generation {base}" if base == newest else f"generations {base} to {newest}"
        raise UsageError(f"generation {generation} is no longer kept: {kept} can be restored")


def documents_at(target: Meta, manifest: Manifest, generation: int) -> Documents:
    """The documents live at `generation`, from the base and the records since."""
    check_kept(manifest, generation)
    first = manifest.history_base or 0
    return replay(_read_base(target, first), _records(target, first + 1, generation))


def _read_base(target: Meta, generation: int) -> Documents:
    name = base_name(generation)
    data = decode_meta(target.read_meta(name), name, "base")
    if data is None or data["generation"] != generation:
        raise StorageError(f"{name} is missing or unreadable: that history cannot be restored")
    documents: Documents = data["documents"]
    return documents


def _write_base(target: Meta, generation: int, documents: Documents) -> None:
    target.write_meta(
        base_name(generation), encode_meta({"generation": generation, "documents": documents})
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
