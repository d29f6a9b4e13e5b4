"""`publisher verify`: is what is live, and what each edge serves, what the state says?

Reads only: one listing of the target (MD5 ETags against the rendered bytes; a store
whose ETags are not MD5s has each such document read back), and, for each edge, a GET
of every document (or a sample). Nothing is written, no lock is taken.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..bookkeeping.manifest import MANIFEST, parse_manifest
from ..documents.render import Document, KeyInfo
from ..errors import StorageError
from ..fetch import Response, get
from ..publishing.load_and_render import prepare
from ..redact import url_for_display
from ..settings import EdgePaths, PublishOptions
from ..state import State
from ..targets import Target
from ..targets.interface import LiveObject

MISSING, DIFFERENT, EXTRA = "missing", "different", "extra"
EDGE_MISSING, EDGE_STALE = "missing at the edge", "stale at the edge"
EDGE_ERROR = "an error at the edge"
EDGE_WORKERS = 16


@dataclass(frozen=True)
class Drift:
    """One document that is not what the state says, and where."""

    key: str
    kind: str
    where: str


@dataclass
class VerifyResult:
    target: str
    documents: int
    """Documents the state renders (each compared with the target)."""
    drift: list[Drift] = field(default_factory=list)
    edges: dict[str, int] = field(default_factory=dict)
    """Each edge (as shown) and how many documents were fetched from it."""
    keys: dict[str, KeyInfo] = field(default_factory=dict)
    """What may be shown of each key of the state (to name a drifted document)."""


def compare(
    rendered: Mapping[str, Document], live: Mapping[str, LiveObject]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Return (key, kind) for each document that is missing, different or extra, and the
    keys whose live MD5 is unknown (their bytes must be read to tell)."""
    found = [(key, MISSING) for key in rendered if key not in live]
    unknown = []
    for key, doc in rendered.items():
        obj = live.get(key)
        if obj is None:
            continue
        if obj.md5 is None:
            unknown.append(key)
        elif obj.md5 != doc.md5:
            found.append((key, DIFFERENT))
    found += [(key, EXTRA) for key in live if key not in rendered]
    return sorted(found, key=lambda f: (f[1], f[0])), unknown


def edge_kind(response: Response, expected: bytes) -> str | None:
    """What is wrong with what an edge served, or None when it is the expected bytes."""
    if response.status == 200:
        return None if response.body == expected else EDGE_STALE
    if response.status == 404:
        return EDGE_MISSING
    return f"{EDGE_ERROR} (HTTP {response.status})"  # refused or failing: not a stale copy


def verify(
    state: State | str | Path,
    target: Target,
    options: PublishOptions | None = None,
    *,
    edges: Sequence[str] = (),
    sample: int | None = None,
    fetch: Callable[[str], Response] = get,
    edge_paths: EdgePaths | None = None,
) -> VerifyResult:
    """Compare what `state` renders with `target` and with each of `edges`, which serve
    each document at `edge_paths` (`/config/<key>` unless said otherwise)."""
    paths = edge_paths or EdgePaths()
    _, rendered, _ = prepare(state, options or PublishOptions(), secrets=False)
    documents = rendered.documents
    bounds = parse_manifest(target.read_meta(MANIFEST)).scan_bounds
    found, unknown = compare(documents, target.list_live(bounds))
    for key in unknown:
        if target.read_document(key) != documents[key].body:
            found.append((key, DIFFERENT))
    result = VerifyResult(target.description, len(documents), keys=rendered.keys)
    result.drift = [Drift(key, kind, target.description) for key, kind in found]
    keys = sorted(documents)
    if sample is not None and sample < len(keys):
        keys = sorted(random.sample(keys, sample))
    for edge in edges:
        shown = url_for_display(edge)
        base = edge.rstrip("/")

        def check(key: str, base: str = base) -> str | None:
            return edge_kind(fetch(base + paths.path(key)), documents[key].body)

        try:
            with ThreadPoolExecutor(EDGE_WORKERS) as pool:
                kinds = list(pool.map(check, keys))
        except StorageError as exc:
            raise StorageError(f"edge {shown}: {exc.message}") from None
        result.edges[shown] = len(keys)
        result.drift += [Drift(k, kind, shown) for k, kind in zip(keys, kinds, strict=True) if kind]
    return result
