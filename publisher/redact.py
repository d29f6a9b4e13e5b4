"""The one API-key pattern, and every way to name a key without revealing it."""

from __future__ import annotations

import hashlib
import re

KEY_PATTERN = r"[A-Za-z0-9_-]{8,128}"
"""What an API key looks like; the state schema says the same (`^...$`)."""

KEY_NAME = re.compile(KEY_PATTERN)
"""Match a whole file or object name with `KEY_NAME.fullmatch(name)`."""

_IN_PATH = re.compile(r"/config/(" + KEY_PATTERN + ")")


def key_hash(key: str) -> str:
    """Return sha256(key) as hex: how bookkeeping under _publisher/ names a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_label(key: str) -> str:
    """Return a short label that identifies a key to its owner but does not reveal it."""
    if len(key) < 20:
        return key[:3] + "…"
    return key[:8] + "…" + key[-4:]


def redact_paths(text: str) -> str:
    """Replace each raw key in a `/config/<key>` path of `text` with its label."""
    return _IN_PATH.sub(lambda m: "/config/" + key_label(m[1]), text)
