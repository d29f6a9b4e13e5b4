"""The one encoding of every file the publisher keeps under _publisher/: compact JSON."""

from __future__ import annotations

import json
from typing import Any


def encode_meta(value: Any) -> bytes:
    """`value` as a bookkeeping file holds it: compact JSON (the C encoder: a manifest of
    100,000 keys is one call), UTF-8, and a final newline."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"
