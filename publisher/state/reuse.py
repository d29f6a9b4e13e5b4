"""Organizations whose JSON text is what a complete publish already checked and rendered.

A daily publish changes a few organizations of thousands. The last publish recorded,
for each organization, a digest of its exact text (salted with the target's salt, and
with a fingerprint of everything else that shapes its documents); an organization whose
text has the same digest now is not decoded, checked or rendered again: its documents
are the ones the manifest records. Pure: the caller (bookkeeping/reusable_orgs.py)
builds the index from the manifest and records the new one.

Only organizations without webhooks are reused, and only from a JSON state (a span of
text is one organization there; YAML is read whole). Anything uncertain (two reused
organizations matched to one record, a decoded key or organization id that a reused one
already has) stops the reuse and the state is read in full, which says what is wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, NamedTuple

from ..redact import key_hash

PREFIX_CHARS = 48
"""The leading characters of an organization's text an index entry is found by."""

SHORT = 16
"""Hex characters of a hash kept per key or organization id in the index (64 bits)."""


class Span(NamedTuple):
    """Where a decoded organization's text was found, and its digest."""

    prefix: str
    """sha256 of its first PREFIX_CHARS characters (unsalted: never written)."""
    length: int
    digest: str
    """sha256 of the context and its text (unsalted: never written)."""


class Reused(NamedTuple):
    """An organization not decoded: its index entry as the manifest holds it."""

    entry: list[Any]
    keys: tuple[str, ...]
    """The full salted hashes of its active keys (each with a live document)."""
    scopes: int
    org: str
    """The short hash of its id."""
    active: list[str]
    """The short hashes of its active keys."""
    revoked: list[str]
    """The short hashes of its revoked keys."""


class ReuseConflict(Exception):
    """A reused organization may clash with a decoded one: read the state in full."""


class OrgReuse:
    """Find organizations by their text; note the spans the next publish will look for.

    `index` maps an entry's salted prefix hash to (length, salted digest, Reused)
    candidates; empty, nothing is reused and only the spans are noted. A Span holds
    unsalted digests, in memory only: what is recorded is salted (`salted`).
    """

    def __init__(
        self,
        context: str,
        index: dict[str, list[tuple[int, str, Reused]]] | None = None,
        salt: str = "",
    ) -> None:
        self.context = context
        self.index = index or {}
        self.salt = salt

    def span(self, text: str, start: int, end: int) -> Span:
        return Span(_prefix(text, start), end - start, self._digest(text, start, end))

    def match(self, text: str, start: int) -> tuple[int, Reused] | None:
        """Return (end, reused) when the text at `start` is a recorded organization's."""
        candidates = self.index.get(salted(self.salt, _prefix(text, start), SHORT))
        for length, digest, reused in candidates or ():
            end = start + length
            if end <= len(text) and salted(self.salt, self._digest(text, start, end)) == digest:
                return end, reused
        return None

    def _digest(self, text: str, start: int, end: int) -> str:
        data = f"{self.context}\n".encode() + text[start:end].encode()
        return hashlib.sha256(data).hexdigest()


def _prefix(text: str, start: int) -> str:
    return hashlib.sha256(text[start : start + PREFIX_CHARS].encode()).hexdigest()


def salted(salt: str, value: str, size: int = 32) -> str:
    """What the manifest keeps of an unsalted digest: sha256(salt, value), cut to `size`."""
    return hashlib.sha256(f"{salt}\n{value}".encode()).hexdigest()[:size]


def short_hash(salt: str, kind: str, value: str) -> str:
    """A salted hash of `value`, cut to SHORT hex characters (an index needs no more)."""
    return hashlib.sha256(f"{salt}\n{kind}\n{value}".encode()).hexdigest()[:SHORT]


def check_reused(
    reused: Iterable[Reused], decoded_ids: Iterable[str], decoded_keys: Iterable[str], salt: str
) -> None:
    """Raise ReuseConflict when a reused organization may share an id or a key with a
    decoded one (or two spans matched one record): only a full read can tell."""
    entries = list(reused)
    if len({id(r.entry) for r in entries}) != len(entries):
        raise ReuseConflict("one recorded organization matched twice")
    ids = {r.org for r in entries}
    keys = {k for r in entries for k in (*r.active, *r.revoked)}
    if any(short_hash(salt, "org", i) in ids for i in decoded_ids):
        raise ReuseConflict("an organization id of a reused organization is used again")
    if any(key_short(k, salt) in keys for k in decoded_keys):
        raise ReuseConflict("an API key of a reused organization is used again")


def key_short(key: str, salt: str) -> str:
    """The first SHORT characters of the key's salted hash (`redact.key_hash`)."""
    return key_hash(key, salt)[:SHORT]
