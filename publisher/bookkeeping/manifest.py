"""The generation manifest under _publisher/: what was published, keys only as sha256.

It is what a daily publish plans from (no listing): so it carries its own digest, over
the generation and the documents, and is trusted only when that digest holds and its
format is this one. It also says when the last full listing ran (`full_scan_at`), and
where a full listing may split the keys into ranges listed side by side (`scan_bounds`:
a few key prefixes, each no longer than what a key's label shows).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from ..gcpause import no_cycles
from ..meta_json import decode_meta, encode_meta
from ..redact import key_hash, new_salt, shown_prefix
from ..settings import MAX_KEEP_GENERATIONS

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 3
"""3: key hashes salted with the target's own salt (2: plain sha256 of the key)."""


@dataclass(frozen=True)
class Manifest:
    generation: int = 0
    documents: dict[str, str] = field(default_factory=dict)
    """key_hash(api key, salt) → sha256(document) for every document left live."""
    state_sha256: str | None = None
    full_scan_at: float | None = None
    """When a full listing last checked what is live (None: never)."""
    intact: bool = False
    """Present, readable, of this format, and its digest holds: fit to plan from."""
    scan_bounds: tuple[str, ...] = ()
    """Sorted key prefixes that split the keys into ranges of about equal size."""
    salt: str = field(default_factory=new_salt, compare=False)
    """This target's salt for key hashes: kept from manifest to manifest (a new one
    where there is none, which a full scan then fills in)."""
    bodies: dict[str, int] = field(default_factory=dict)
    """sha256 of every document body kept → the generation whose pack holds it
    (`bodies/<generation>.json`, see history.py)."""
    history_base: int | None = None
    """The oldest generation kept, whose documents history/base.json holds (None: none)."""
    digest: str = field(default="", compare=False)
    """Its digest as written (checked when `intact`)."""
    orgs: Any = field(default=None, compare=False)
    """The organizations a next publish may reuse, as written (see bookkeeping/reusable_orgs.py)."""
    headers: dict[str, str] | None = field(default=None, compare=False)
    """The headers the documents were put with (None: not recorded, or a directory)."""


KEYS_PER_RANGE = 10_000
"""A full listing splits into ranges of about this many keys (10 pages each): the ranges
are listed side by side, and each costs at most one page more than a single listing."""
MAX_RANGES = 16


def scan_bounds(keys: Iterable[str], per_range: int = KEYS_PER_RANGE) -> tuple[str, ...]:
    """Return prefixes that split the sorted `keys` into ranges of about `per_range` keys.

    Only the prefix a label shows is kept; any bounds give a correct listing (the ranges
    cover every name), good ones only make the ranges even."""
    ordered = sorted(keys)
    ranges = min(MAX_RANGES, len(ordered) // per_range)
    if ranges < 2:
        return ()
    picks = {shown_prefix(ordered[i * len(ordered) // ranges]) for i in range(1, ranges)}
    return tuple(sorted(picks))


_SALT = re.compile(r"[0-9a-f]{32}")


def _packs(value: Any, generation: int) -> dict[str, int]:
    """Which pack holds each kept body: those a generation up to this one wrote."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if len(k) == 64 and v <= generation}


def _bounds(value: Any) -> tuple[str, ...]:
    """The manifest's `scan_bounds` when well formed (else none: one sequential listing)."""
    if not isinstance(value, list) or len(value) > MAX_RANGES:
        return ()
    if not all(isinstance(b, str) and 0 < len(b) <= 8 for b in value):
        return ()
    return tuple(sorted(set(value)))


def digest(generation: int, documents: Mapping[str, str], salt: str = "") -> str:
    """Return the manifest's digest: sha256 over its generation, salt and documents."""
    text = json.dumps([generation, salt, sorted(documents.items())], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def parse_manifest(raw: bytes | None) -> Manifest:
    """Parse the manifest; an unreadable one counts as none (a full listing rules then)."""
    if raw is None:
        return Manifest()
    with no_cycles():  # 100,000 keys: millions of objects, none in a cycle
        return _parse(raw)


def _parse(raw: bytes) -> Manifest:
    data = decode_meta(raw, MANIFEST, "manifest")  # checked: types, ranges, sizes
    if data is None:
        return Manifest()
    docs, generation = data["documents"], data["generation"]
    salt = data.get("salt")
    if data.get("format") != FORMAT or not isinstance(salt, str) or not _SALT.fullmatch(salt):
        # Its key hashes are not this format's: a full scan rebuilds the manifest.
        log.warning("%s is of another format: a full scan rebuilds it", MANIFEST)
        return Manifest(generation, {}, data.get("state_sha256"))
    written = data.get("digest")
    intact = written == digest(generation, docs, salt)
    if not intact:
        log.warning("%s does not match its digest", MANIFEST)
    return Manifest(
        generation,
        docs,
        data.get("state_sha256"),
        data.get("full_scan_at"),
        intact,
        _bounds(data.get("scan_bounds")),
        salt,
        _packs(data.get("bodies"), generation),
        _history_base(data.get("history_base"), generation),
        written if intact else "",
        data.get("orgs") if intact else None,
        data.get("headers"),
    )


MAX_KEPT = MAX_KEEP_GENERATIONS + 100
"""The most generations a history spans (--keep-generations at most, and the records a
base move waits for, with room): a base further back than that is damage, not history."""


def _history_base(value: Any, generation: int) -> int | None:
    """The manifest's history base where it can be one (outside the digest, so checked
    against the generation): none otherwise, and the next publish starts a new history."""
    if value is None:
        return None
    if not generation - MAX_KEPT <= value <= generation:
        log.warning(
            "ignoring the history base of %s: %d is not near generation %d",
            MANIFEST, value, generation,
        )  # fmt: skip
        return None
    return int(value)


def manifest_documents(
    previous: Manifest,
    published: Mapping[str, str],
    deleted: Iterable[str],
    live: Iterable[str] | None = None,
) -> dict[str, str]:
    """Return key hash → sha256(document) for what is live after this publish.

    `published` maps each key of the state to its document's sha256; `deleted` are the
    keys deleted. Other entries of `previous` (documents left in place) are kept, unless
    a full listing (`live`: every live key) shows the document is gone.
    """
    salt = previous.salt
    gone = {key_hash(k, salt) for k in deleted}
    kept = {h: sha for h, sha in previous.documents.items() if h not in gone}
    if live is not None:
        present = {key_hash(k, salt) for k in live}
        kept = {h: sha for h, sha in kept.items() if h in present}
    kept.update((key_hash(k, salt), sha) for k, sha in published.items())
    return dict(sorted(kept.items()))


@dataclass(frozen=True)
class NewGeneration:
    """What a new generation records: its documents, the state that made them, its counts,
    and what else its manifest carries."""

    documents: dict[str, str]
    """key_hash → sha256(document) of every document live after it."""
    state_sha256: str
    counts: Mapping[str, int] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    """More for its record (the stopped policy, the generation rolled back to)."""
    full_scan_at: float | None = None
    keys: Iterable[str] | None = ()
    """The keys the next full scan's ranges split (None: keep the manifest's bounds)."""
    history: History | None = None
    orgs: Callable[[str], Any] | None = None
    """Given the manifest's digest, what the next publish may reuse (reusable_orgs.py)."""
    headers: dict[str, str] | None = None
    """The headers the documents are stored with (a store's, not a directory's)."""


def build_manifest(
    previous: Manifest,
    new: NewGeneration,
    *,
    now: float | None = None,
    generation: int | None = None,
    bounds: tuple[str, ...] = (),
    on_record: Callable[[int, bytes], None] | None = None,
) -> tuple[int, bytes, bytes]:
    """Return (generation, manifest bytes, generation summary bytes). `on_record` is given
    the summary as soon as it is made, before the manifest is (its write is then on its
    way while the manifest is built), and it is not returned."""
    generation = previous.generation + 1 if generation is None else generation
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    summary: dict[str, Any] = {
        "version": 1,
        "format": FORMAT,
        "generation": generation,
        "published_at": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "state_sha256": new.state_sha256,
        "counts": dict(new.counts),
        **new.extra,
    }
    history = new.history or History()
    record = encode_meta({**summary, **history.summary})
    if on_record is not None:
        on_record(generation, record)
        record = b""  # sent: not held while the manifest (as large) is made
    signed = digest(generation, new.documents, previous.salt)
    manifest = {
        **summary,
        "full_scan_at": new.full_scan_at,
        "scan_bounds": list(bounds),
        "salt": previous.salt,
        "bodies": dict(sorted(history.bodies.items())),
        "history_base": history.base,
        **({"headers": new.headers} if new.headers is not None else {}),
        "digest": signed,
        **({"orgs": new.orgs(signed)} if new.orgs is not None else {}),
        "documents": new.documents,
    }
    return generation, encode_meta(manifest), record


class MetaWriter(Protocol):
    def write_meta(self, name: str, body: bytes) -> None: ...


@dataclass(frozen=True)
class History:
    """What a generation records for history (history.py fills it in)."""

    summary: Mapping[str, Any] = field(default_factory=dict)
    """More for the generation's summary: kind, host, user, and its changes."""
    bodies: dict[str, int] = field(default_factory=dict)
    base: int | None = None
    generation: int | None = None
    """The number of the new generation, when the manifest's own (+1) is taken: a
    manifest lost or damaged must not write over the records of earlier generations."""


def generation_name(generation: int) -> str:
    return f"generations/{generation:08d}.json"


def record_generation(
    target: MetaWriter, previous: Manifest, new: NewGeneration, *, now: float | None = None
) -> int:
    """Write a new generation when anything changed; return the generation now live.

    The documents' headers are part of what a generation publishes: a new Cache-Control
    rewrites every document, and is a generation of its own (history lists it; its
    purge and webhooks are noted on it). Nothing changed but the time of the last full
    listing (or the manifest was of an older format, without headers): the manifest is
    rewritten under the same generation.
    """
    headers_changed = previous.headers is not None and new.headers != previous.headers
    same = (
        new.documents == previous.documents
        and new.state_sha256 == previous.state_sha256
        and not headers_changed
    )
    noted = new.full_scan_at == previous.full_scan_at and new.headers == previous.headers
    if same and previous.intact and noted:
        return previous.generation  # nothing changed: no new generation

    def write_record(generation: int, summary: bytes) -> None:
        # first: a manifest never names a generation whose record is missing
        target.write_meta(generation_name(generation), summary)

    keys = new.keys
    keep_bounds = keys is None or (same and previous.scan_bounds and keys)
    history = new.history
    generation, body, _ = build_manifest(
        previous,
        new
        if history
        else replace(new, history=History(bodies=previous.bodies, base=previous.history_base)),
        now=now,
        generation=previous.generation if same else history.generation if history else None,
        bounds=previous.scan_bounds if keep_bounds or keys is None else scan_bounds(keys),
        on_record=None if same else write_record,
    )
    target.write_meta(MANIFEST, body)
    return generation
