"""The manifest's record of organizations a next publish may reuse (see state/reuse.py).

`orgs` in the manifest: `{"context": ..., "entries": [...], "digest": ...}`, one entry per
organization of the state that published it:

    [prefix, length, digest, scopes, hooks, [active key], [revoked key], id]

`prefix` and `digest` are salted hashes of the organization's first characters and of
its whole text (with the context: the publisher's version and the options that shape
documents); keys and the id are salted hashes cut to 16 hex characters. The section's
own digest covers the manifest's digest: a manifest written by anything else (a
rollback, another version) carries no section, or one that does not hold, and nothing
is reused. An entry is reused only when every active key's document is live in the
manifest, no revoked key's document is, and the organization has no webhook.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from ..documents.render import Rendered
from ..gcpause import no_cycles
from ..settings import PublishOptions
from ..state import State
from ..state.reuse import SHORT, OrgReuse, Reused, key_short, salted, short_hash
from .completion_marker import fingerprint
from .manifest import Manifest


def org_reuse(manifest: Manifest | None, options: PublishOptions) -> OrgReuse:
    """What a load may reuse from `manifest` (None: nothing; only the spans are noted)."""
    context = fingerprint(options)
    if manifest is None or not manifest.intact:
        return OrgReuse(context)
    with no_cycles():
        return OrgReuse(context, _index(manifest, context), manifest.salt)


def _index(manifest: Manifest, context: str) -> dict[str, list[tuple[int, str, Reused]]]:
    section = manifest.orgs
    if not isinstance(section, dict) or section.get("context") != context:
        return {}
    entries = section.get("entries")
    if not isinstance(entries, list) or section.get("digest") != _digest(
        manifest.digest, context, entries
    ):
        return {}
    live: dict[str, str | None] = {}
    for hashed in manifest.documents:
        short = hashed[:SHORT]
        live[short] = None if short in live else hashed  # two of one short hash: neither
    index: dict[str, list[tuple[int, str, Reused]]] = {}
    for entry in entries:
        found = _reusable(entry, live)
        if found is not None:
            index.setdefault(entry[0], []).append((entry[1], entry[2], found))
    return index


def _reusable(entry: Any, live: dict[str, str | None]) -> Reused | None:
    if type(entry) is not list or len(entry) != 8:
        return None
    prefix, length, digest, scopes, hooks, active, revoked, org = entry
    if not (type(prefix) is str and type(digest) is str and type(org) is str):
        return None
    if not (type(length) is int and length > 0 and type(scopes) is int and not hooks):
        return None
    if not (type(active) is list and type(revoked) is list):
        return None
    try:
        keys = tuple(map(live.get, active))
        if None in keys or not live.keys().isdisjoint(revoked):
            return None  # a document missing, or a revoked key's left live (a prune deletes it)
    except TypeError:  # not a string: unhashable
        return None
    return Reused(entry, cast(tuple[str, ...], keys), scopes, org, active, revoked)


def org_section(
    state: State, rendered: Rendered, salt: str, options: PublishOptions
) -> Callable[[str], Any] | None:
    """The manifest's `orgs` for this state, given the manifest's digest (None: the state
    was not read from JSON text, so there is nothing to find again)."""
    if len(state.spans) != len(state.organizations) or not (state.spans or state.reused):
        return None
    scopes = Counter(org for org, _ in rendered.scopes)
    entries = [reused.entry for reused in state.reused]
    for org, span in zip(state.organizations, state.spans, strict=True):
        entries.append(
            [
                salted(salt, span.prefix, SHORT),
                span.length,
                salted(salt, span.digest),
                scopes[org.id],
                1 if org.webhooks else 0,
                [key_short(k.key, salt) for k in org.api_keys if not k.revoked],
                [key_short(k.key, salt) for k in org.api_keys if k.revoked],
                short_hash(salt, "org", org.id),
            ]
        )
    context = fingerprint(options)

    def section(manifest_digest: str) -> dict[str, Any]:
        digest = _digest(manifest_digest, context, entries)
        return {"context": context, "digest": digest, "entries": entries}

    return section


def _digest(manifest_digest: str, context: str, entries: list[Any]) -> str:
    text = json.dumps([manifest_digest, context, entries], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
