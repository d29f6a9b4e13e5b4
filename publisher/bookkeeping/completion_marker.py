"""The marker of the last publish under _publisher/quick.json: complete (with what made
it), unsettled (documents being written), or settled (a purge or webhook to retry)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..documents.render import Rendered
from ..meta_json import decode_meta, encode_meta
from ..settings import VERSION, PublishOptions
from .manifest import FORMAT

QUICK = "quick.json"
"""The marker of the last complete publish (publishing/quick_noop.py), or UNSETTLED."""
UNSETTLED = b'{"unsettled":true}\n'
"""Written there before any document is: until a publish completes, the next one lists."""
SETTLED = b'{"settled":true}\n'
"""Written there when every document and the manifest are written but a CDN purge or a
webhook failed: the next publish retries those, without a listing and without the quick
no-op."""


def fingerprint(options: PublishOptions) -> str:
    """What, besides the state's bytes, decides the documents and their checks."""
    shaping = [FORMAT, VERSION, str(options.stopped_policy), options.max_document_bytes]
    return hashlib.sha256(json.dumps(shaping).encode()).hexdigest()


def marker(
    generation: int, state_sha256: str, options: PublishOptions, rendered: Rendered
) -> bytes:
    """The marker a publish completed in full leaves behind."""
    value = {
        "generation": generation,
        "state_sha256": state_sha256,
        "fingerprint": fingerprint(options),
        "documents": rendered.count(),
        "distinct": rendered.distinct_count(),
    }
    return encode_meta(value)


def parse_marker(raw: bytes | None) -> dict[str, Any]:
    """The marker as read ({} for none, or one not as a marker is)."""
    found: dict[str, Any] = decode_meta(raw, QUICK, "marker") or {}
    return found
