"""The one API-key pattern, and every way to name a key without revealing it."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

KEY_PATTERN = r"[A-Za-z0-9_-]{8,128}"
"""What an API key looks like; the state schema says the same (`^...$`)."""

KEY_NAME = re.compile(KEY_PATTERN)
"""Match a whole file or object name with `KEY_NAME.fullmatch(name)`."""

_IN_PATH = re.compile(r"/config/(" + KEY_PATTERN + r")(?![A-Za-z0-9_-])")
_LABEL_TAIL = re.compile(r"…[A-Za-z0-9_-]{4}(?![A-Za-z0-9_-])")
"""What follows the 8 characters a label shows (`key_acme…0001`): a path holding a label
is not labelled again. A key followed by `…` otherwise is a key, and is labelled."""


def key_hash(key: str, salt: str) -> str:
    """Return sha256(salt + key) as hex: how bookkeeping under _publisher/ names a key.

    The salt is the target's own, random (`new_salt`, kept in its manifest): no table
    of hashes of short keys, and no hash seen elsewhere, answers it (SPEC §13)."""
    return hashlib.sha256((salt + key).encode()).hexdigest()


def new_salt() -> str:
    """A fresh random salt for a target's key hashes."""
    return secrets.token_hex(16)


def key_label(key: str) -> str:
    """Return a short label that identifies a key to its owner but does not reveal it."""
    if len(key) < 20:
        return key[:3] + "…"
    return shown_prefix(key) + "…" + key[-4:]


def stored_label(key: str) -> str:
    """The label kept beside a key's hash under _publisher/: the full label only where
    enough of the key stays unknown (16 characters and more: 2^64 tries even for hex)
    that the hash cannot be searched for the rest; a shorter key keeps only its first
    three characters."""
    return key_label(key) if len(key) >= 28 else key[:3] + "…"


def shown_prefix(key: str) -> str:
    """The leading characters of a key that its label shows (and nothing more)."""
    return key[:3] if len(key) < 20 else key[:8]


def redact_paths(text: str) -> str:
    """Replace each raw key in a `/config/<key>` path of `text` with its label."""
    return _IN_PATH.sub(_label_path, text)


def _label_path(match: re.Match[str]) -> str:
    key = match[1]
    if len(key) == 8 and _LABEL_TAIL.match(match.string, match.end()):
        return match[0]  # already a label
    return "/config/" + key_label(key)


# Every key-like run of characters found where a state keeps its API keys, valid or not:
# output passes through `scrub`, which shows each of them as a label.
# A known key is labelled wherever it stands, `…` after it included; the 8 characters a
# label shows are never a known key's whole run, so a label stays as it is.
_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{8,}(?![A-Za-z0-9_-])")
_known: set[str] = set()
_lengths: list[int] = []
"""The lengths of the known keys, longest first: a key glued to other key characters
(`rotated-from-key_...`) is found as a part of a longer run."""
_KEY_FIELDS = {"key", "description", "project", "revoked"}


def remember_keys(texts: Iterable[str]) -> None:
    """Treat every key-like run in `texts` as secret from now on in this process."""
    found: set[str] = set()
    for text in texts:
        if KEY_NAME.fullmatch(text):
            found.add(text)
        else:
            found.update(_TOKEN.findall(text))
    _known.update(found)
    # Called once per organization: the lengths grow by the new keys' own, so a state
    # of N keys costs O(N), not a pass over every key known so far each time.
    lengths = {len(k) for k in found}.difference(_lengths)
    if lengths:
        _lengths[:] = sorted(lengths.union(_lengths), reverse=True)


def scrub(text: str) -> str:
    """Return `text` with every remembered key, and every `/config/<key>` path, labelled."""
    text = redact_paths(text)
    if not _known:
        return text
    return _TOKEN.sub(_label_known, text)


def _label_known(match: re.Match[str]) -> str:
    token = match[0]
    if token in _known:
        return key_label(token)
    # A key glued to other key characters (`rotated-from-key_...`, an escape written
    # before it: `\n`, `\u2028`): each known key inside the run, longest first.
    out, start, at = [], 0, 0
    while at <= len(token) - 8:
        found = next((n for n in _lengths if token[at : at + n] in _known), 0)
        if found:
            out += [token[start:at], key_label(token[at : at + found])]
            at = start = at + found
        else:
            at += 1
    return "".join(out) + token[start:] if out else token


def key_strings(org: object) -> Iterator[str]:
    """Yield every string an organization's `api_keys` holds, however malformed."""
    keys = org.get("api_keys") if isinstance(org, dict) else None
    items = keys if isinstance(keys, list) else [keys]
    for item in items:
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            value = item.get("key")
            if isinstance(value, str):
                yield value
            # A key written as a mapping key (`- key_...: x`) is an unknown field's name.
            yield from (n for n in item if isinstance(n, str) and n not in _KEY_FIELDS)


# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters a
# renderer shows as nothing, or as a blank, whatever their category (the soft hyphen, the
# combining grapheme joiner, Hangul fillers, variation selectors, tags). In source as
# escapes: literal ones would be invisible here too.
_IGNORABLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
INVISIBLE = re.compile(f"[\x00-\x1f\x7f-\x9f{_IGNORABLE}]")
"""A character that shows as nothing, turns the text around (Trojan Source) or is a
control: two identifiers that differ by one look the same."""
# Control characters (the tab aside) and the invisible ones, and lone surrogates (which
# cannot even be written): a terminal would show other text than the bytes hold.
_UNSAFE = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f{_IGNORABLE}\ud800-\udfff]")


def printable(text: str) -> str:
    """Return state text safe for a terminal: control, bidi and invisible characters as
    `\\uXXXX` (`\\UXXXXXXXX` beyond the first plane)."""
    return _UNSAFE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def url_for_display(url: str) -> str:
    """Return a URL as scheme, host and path: no userinfo, no query, keys as labels."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an invalid URL)"
    if ":" in host:
        host = f"[{host}]"
    return printable(redact_paths(f"{parts.scheme}://{host}{port}{parts.path}"))


def redact_url_text(text: str, url: str) -> str:
    """Return `text` (an error message) without `url`'s userinfo, path or query."""
    parts = urlsplit(url)
    for secret in (url, parts.netloc.rpartition("@")[0], parts.path, parts.query):
        if secret and len(secret) > 1:
            text = text.replace(secret, "…")
    return text


def plural(count: int, noun: str, many: str | None = None) -> str:
    """Return `noun` or its plural for `count` (`document`, `documents`; `delivery`, ...)."""
    if count == 1:
        return noun
    if many is not None:
        return many
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
