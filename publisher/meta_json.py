"""The one encoding of every file the publisher keeps under _publisher/, and the one
bounded reader of them: compact JSON out, checked JSON in."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

log = logging.getLogger("publisher.bookkeeping")

MAX_META_BYTES = 256 << 20
"""A bookkeeping file larger than this is not read past this size, nor parsed (a
manifest of 100,000 keys is tens of MB)."""
_SMALL_META = {"lock": 64 << 10, "quick.json": 1 << 20}
"""Files that hold a few fields, whatever the number of keys: the lock, the no-op marker."""


def meta_cap(name: str) -> int:
    """The most bytes the bookkeeping file `name` may hold; a larger one is not read."""
    return _SMALL_META.get(name, MAX_META_BYTES)


class Unreadable(bytes):
    """What a target reads for a bookkeeping file that is there but cannot be read (over
    its cap, not a regular file), once said in a warning line: not None, which is a file
    that is absent. Parsed, it counts as absent as every file that fails does; a pending
    purge that cannot be read is not forgotten for it (delivery/purge.py)."""


UNREADABLE = Unreadable()


def too_large(name: str) -> None:
    """Say, in the line a file that fails gets, that `name` was too large to read."""
    log.warning(
        "ignoring _publisher/%s: over the %s bytes this bookkeeping file may hold",
        name,
        f"{meta_cap(name):,}",
    )


MAX_DIGITS = 18
"""An integer of more digits is no count, generation, time or pid."""


def encode_meta(value: Any) -> bytes:
    """`value` as a bookkeeping file holds it: compact JSON (the C encoder: a manifest of
    100,000 keys is one call), UTF-8, and a final newline."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


class _Refused(ValueError):
    """A value no bookkeeping file holds: NaN, an infinity, a number of many digits."""


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number a bookkeeping file holds")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Refused(f"an integer of {len(text)} digits")
    return int(text)


def _float(text: str) -> float | int:
    """A number written with a point or an exponent: out of range is refused, and a whole
    one (`1e11`, `2.0`) is an integer, as JSON Schema counts it (so `generation: 1e11` is
    an int where ints are used, never a float that formats and ranges refuse)."""
    value = float(text)
    if not math.isfinite(value) or abs(value) >= 10**MAX_DIGITS:
        raise _Refused(f"{text[:20]} is out of range")
    return int(value) if value.is_integer() else value


def decode_meta(raw: bytes | None, name: str, kind: str, *, warn: bool = True) -> Any:
    """Parse the bookkeeping file `name` and check it against its definition `kind` in
    schema/bookkeeping.schema.json; None when it is absent, or when it is not what it
    should be (said in one warning line that names it, unless `warn` is off because the
    caller says it otherwise): a file that fails counts as absent, and what rebuilds it
    (a full scan, the next publish) does so."""
    if raw is None or isinstance(raw, Unreadable):  # absent, or said already
        return None
    why = _problem(raw, kind, meta_cap(name))
    if isinstance(why, str):
        if warn:
            log.warning("ignoring _publisher/%s: %s", name, why)
        return None
    return why[0]


def _problem(raw: bytes, kind: str, cap: int) -> str | tuple[Any]:
    """The parsed value (in a 1-tuple), or what is wrong with it."""
    from .schemas import schema_errors

    if len(raw) > cap:
        return f"over the {cap:,} bytes this bookkeeping file may hold"
    try:
        value = json.loads(raw, parse_constant=_constant, parse_int=_integer, parse_float=_float)
    except RecursionError:
        return "nested too deep"
    except _Refused as exc:
        return str(exc)
    except ValueError as exc:  # not JSON, not UTF-8
        return f"not JSON ({str(exc).split(':')[0]})"
    errors = schema_errors(f"bookkeeping#{kind}", value)
    if errors:
        return f"not a {kind} file ({_said(errors[0])})"
    return (value,)


_KEYWORDS = {
    "type": "of another type",
    "required": "a field missing",
    "minimum": "a number too small",
    "maximum": "a number too large",
    "maxLength": "a text too long",
    "pattern": "a text of another form",
    "maxItems": "a list too long",
    "minItems": "a list too short",
    "maxProperties": "too many fields",
    "propertyNames": "a name of another form",
}


def _said(error: Any) -> str:
    """Where the file fails and how, without quoting what it holds there (any bytes)."""
    where = "/".join(str(p)[:40] for p in list(error.absolute_path)[:4])
    how = _KEYWORDS.get(str(getattr(error, "validator", "")), "not as its definition says")
    return f"{how} at {where}" if where else how
