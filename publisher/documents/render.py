"""Render the state into one canonical overrides document per API key (SPEC section 3).

Pure: no I/O. Each experiment's override is serialized once per organization and
each (organization, project) scope's document is assembled once, however many keys
share it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..gcpause import no_cycles
from ..state.model import Experiment, Organization, State, StoppedPolicy


class Document(NamedTuple):
    """One rendered document, shared by every key of its scope."""

    body: bytes
    sha256: str
    md5: str
    org: str
    project: str | None


class KeyInfo(NamedTuple):
    """What may be shown about a key: never the key itself (see `label`)."""

    org: str
    description: str | None
    project: str | None
    revoked: bool


@dataclass(frozen=True)
class Rendered:
    """The documents of every active key, and what is known of every key in the state."""

    documents: dict[str, Document]
    keys: dict[str, KeyInfo]
    scopes: dict[tuple[str, str | None], Document]
    """Every rendered (organization, project) document: the keys' and the webhooks'."""
    reused: frozenset[str] = frozenset()
    """Salted hashes of the keys of organizations not rendered again (state/reuse.py):
    their documents are those the manifest records."""
    reused_scopes: int = 0

    def distinct(self) -> list[Document]:
        """Return each distinct document rendered once, in a stable order."""
        return sorted(self.scopes.values(), key=lambda d: (d.org, d.project or "", d.sha256))

    def count(self) -> int:
        """How many documents the state has, rendered now or reused."""
        return len(self.documents) + len(self.reused)

    def distinct_count(self) -> int:
        """How many distinct documents (scopes) the state has, rendered now or reused."""
        return len(self.scopes) + self.reused_scopes


CONTENT_TYPE = "application/json; charset=utf-8"
"""How a document is served: from S3, by `serve`, and through the edges."""

DOCUMENT_PREFIX = b'{"status":200,"overrides":'
"""Every document starts with these bytes; the overrides object follows, then `}`."""

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_encode = _ENCODER.encode


def canonical(value: Any) -> bytes:
    """Serialize compactly as UTF-8, keeping the insertion order of mappings."""
    return _encode(value).encode()


def render_override(exp: Experiment, policy: StoppedPolicy) -> dict[str, Any] | None:
    """Return the override of one experiment by the table of SPEC section 3, or None."""
    if exp.archived:
        return None
    last = exp.phases[-1] if exp.phases else None
    out: dict[str, Any] = {"status": exp.status}
    if exp.status == "stopped":
        force = exp.winner if exp.winner else 0
        if force == 0 and policy == "winners-only":
            return None
        out["force"] = force
    if last is not None:
        out["weights"] = list(last.weights)
    if exp.status == "stopped":
        out["coverage"] = 1
    elif last is not None:
        out["coverage"] = last.coverage
        if last.groups:
            out["groups"] = list(last.groups)
    if exp.url:
        out["url"] = exp.url
    return out


def render_documents(state: State, policy: StoppedPolicy = StoppedPolicy.winners_only) -> Rendered:
    """Render every active key's document; keys of one scope share one Document."""
    with no_cycles():
        return _render(state, policy)


def _render(state: State, policy: StoppedPolicy) -> Rendered:
    all_scopes: dict[tuple[str, str | None], Document] = {}
    documents: dict[str, Document] = {}
    keys: dict[str, KeyInfo] = {}
    for org in state.organizations:
        fragments = _fragments(org.experiments, policy)
        scopes: dict[str | None, Document] = {}
        for api_key in org.api_keys:
            keys[api_key.key] = KeyInfo(
                org.id, api_key.description, api_key.project, api_key.revoked
            )
            if api_key.revoked:
                continue
            doc = scopes.get(api_key.project)
            if doc is None:
                doc = scopes[api_key.project] = _document(org, api_key.project, fragments)
            documents[api_key.key] = doc
        for hook in org.webhooks:  # a webhook's scope may have no key of its own
            if hook.project not in scopes:
                scopes[hook.project] = _document(org, hook.project, fragments)
        for project, doc in scopes.items():
            all_scopes[(org.id, project)] = doc
    reused = frozenset(k for org in state.reused for k in org.keys)
    return Rendered(documents, keys, all_scopes, reused, sum(o.scopes for o in state.reused))


def _fragments(
    experiments: Iterable[Experiment], policy: StoppedPolicy
) -> list[tuple[str, str | None, dict[str, Any]]]:
    """Build each experiment's override once per organization, sorted by key."""
    out = []
    for exp in experiments:
        override = render_override(exp, policy)
        if override is not None:
            out.append((exp.key, exp.project, override))
    out.sort(key=lambda item: item[0])
    return out


def _document(
    org: Organization,
    project: str | None,
    fragments: list[tuple[str, str | None, dict[str, Any]]],
) -> Document:
    # One call of the C encoder per document: per-override calls cost more than the
    # encoding itself.
    overrides = {key: o for key, proj, o in fragments if project is None or proj == project}
    body = _encode({"status": 200, "overrides": overrides}).encode()
    return Document(
        body=body,
        sha256=hashlib.sha256(body).hexdigest(),
        md5=hashlib.md5(body, usedforsecurity=False).hexdigest(),
        org=org.id,
        project=project,
    )
