"""The quick read of a YAML state: plain data from libyaml's events, no lines noted.

Most states are plain: no anchors, aliases or tags, no duplicate keys, no dates. For
those, this reader builds the data in one tight loop (a fraction of the careful
builder's time) and hands each organization on as it completes. Anything else raises
`Unusual` and the caller reads the file again with the careful builder
(`yaml_build.Builder`), which notes the line of every location, says what is wrong,
and bounds aliases. Lines are only needed to report problems, so a valid state never
pays for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import yaml
from yaml import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from .yaml_build import _STR, MAX_DEPTH, MAX_DIGITS, _Loader

_DATA_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "null")}
_NO_KEY: Any = object()


class Unusual(Exception):
    """The file needs the careful builder: an anchor, alias, tag, duplicate key, a value
    that is not plain data, or malformed YAML (whose message the careful builder gives)."""


class _Scalars:
    """Plain (unquoted) scalars resolved once each: text, number, true/false or null."""

    def __init__(self) -> None:
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()
        self.seen: dict[str, Any] = {}

    def resolve(self, text: str) -> Any:
        tag = self.resolver.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        if tag == _STR:
            value: Any = text
        elif tag in _DATA_TAGS:
            if tag.endswith(":int") and len(text) > MAX_DIGITS:
                raise Unusual
            value = self.constructor.construct_object(yaml.ScalarNode(tag, text))
            if isinstance(value, float) and not math.isfinite(value):
                raise Unusual
        else:
            raise Unusual  # a date, a merge key: the careful builder says what to do
        self.seen[text] = value
        return value


def read_fast(text: str, on_org: Callable[[int, Any], None]) -> Any:
    """Return the top level of a plain YAML state; its `organizations` (when a list at the
    top) are handed to `on_org` one by one and left as None in place. Raise `Unusual`
    when the file is not plain data."""
    loader = _Loader(text)
    try:
        return _build(loader.get_event, on_org)
    except yaml.YAMLError:
        raise Unusual from None
    finally:
        loader.dispose()


def _build(get: Callable[[], Any], on_org: Callable[[int, Any], None]) -> Any:
    """The data libyaml's events (`get` the next) make, in one tight loop."""
    scalars = _Scalars()
    seen = scalars.seen
    stack: list[Any] = []  # the open lists and mappings
    keys: list[Any] = []  # each open mapping's key waiting for its value
    root: Any = None
    orgs: list[Any] | None = None
    documents: list[Any] = []
    while True:
        event = get()
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is not None or event.tag is not None:
                raise Unusual
            value = event.value
            if event.implicit[0]:  # plain, not quoted: may be a number, bool or null
                known = seen.get(value, _NO_KEY)
                value = scalars.resolve(value) if known is _NO_KEY else known
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            opened = _opened(event, stack, keys)
            if len(stack) == 1 and keys[0] == "organizations" and type(opened) is list:
                orgs = opened
            stack.append(opened)
            keys.append(_NO_KEY)
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            value = stack.pop()
            keys.pop()
            if stack and stack[-1] is orgs:
                on_org(len(orgs), value)
                value = None
        elif kind is StreamEndEvent:
            return root
        else:
            _other(event, documents)
            continue
        if not stack:
            root = value
            continue
        top = stack[-1]
        if type(top) is list:
            top.append(value)
            continue
        key = keys[-1]
        if key is _NO_KEY:
            if type(value) is not str:
                raise Unusual
            keys[-1] = value
        elif key in top:
            raise Unusual
        else:
            top[key] = value
            keys[-1] = _NO_KEY


def _opened(event: Any, stack: list[Any], keys: list[Any]) -> Any:
    """The empty mapping or list a start event opens; `Unusual` for an anchor, a tag, a
    nesting too deep, or a collection used as a key."""
    if event.anchor is not None or (event.tag is not None and not event.implicit):
        raise Unusual
    if len(stack) >= MAX_DEPTH:
        raise Unusual
    if stack and keys[-1] is _NO_KEY and type(stack[-1]) is dict:
        raise Unusual  # a list or mapping used as a key
    return {} if type(event) is MappingStartEvent else []


def _other(event: Any, documents: list[Any]) -> None:
    """A stream or document boundary passes (a second document does not: `documents`
    holds those begun); an alias is `Unusual`."""
    kind = type(event)
    if kind is DocumentStartEvent:
        documents.append(event)
        if len(documents) > 1:
            raise Unusual  # the careful builder says what is wrong
    elif kind is not DocumentEndEvent and kind is not StreamStartEvent:
        raise Unusual  # an alias


def is_streamed(top: Any, orgs_seen: int) -> bool:
    """Whether `read_fast` handed the organizations on (they are a list at the top)."""
    value = top.get("organizations") if isinstance(top, dict) else None
    return isinstance(value, list) and len(value) == orgs_seen
