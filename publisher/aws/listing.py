"""A listing page's objects read straight from its XML: name and ETag, nothing else.

botocore turns each of a page's 1,000 `<Contents>` into a dict through its shape model,
which costs more of the interpreter than a distant store's round trip, so ranges listed
side by side would wait on the interpreter, not the network (bench/README.md).
`quick_contents` (a `before-parse` hook on ListObjectsV2) takes the objects out of the
body first with regular expressions, as `Contents` of the shape botocore gives
(`Key` and `ETag` only), and leaves the rest of the page (the continuation token,
truncation) to botocore, whose own after-call hook still URL-decodes each key. A page it
does not understand is left whole for botocore.
"""

from __future__ import annotations

import html
import re
from itertools import pairwise
from typing import Any

import botocore.handlers

# botocore checks every S3 page for an error sent with a 200 by parsing it whole;
# `install` runs that same check after the objects are taken out.
_CHECK_200 = getattr(botocore.handlers, "_handle_200_error", None)

_BLOCK = re.compile(rb"<Contents>(.*?)</Contents>", re.S)
_KEY = re.compile(rb"<Key>([^<]*)</Key>")
_ETAG = re.compile(rb"<ETag>([^<]*)</ETag>")


def quick_contents(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """Move a ListObjectsV2 page's objects from its body into the parsed `Contents`."""
    body = response_dict.get("body")
    if response_dict.get("status_code") != 200 or not isinstance(body, bytes):
        return
    if not body.rstrip().endswith(b"</ListBucketResult>"):
        return  # cut short (or an error): botocore's own check retries it
    found = []
    blocks = list(_BLOCK.finditer(body))
    for block in blocks:
        key, etag = _KEY.search(block[1]), _ETAG.search(block[1])
        if key is None or etag is None:
            return  # not the shape S3 sends: botocore reads the page
        try:
            found.append({"Key": _text(key[1]), "ETag": _text(etag[1])})
        except UnicodeDecodeError:
            return
    if not found:
        return
    together = all(not body[a.end() : b.start()].strip() for a, b in pairwise(blocks))
    first, last = blocks[0].start(), blocks[-1].end()
    response_dict["body"] = body[:first] + body[last:] if together else _BLOCK.sub(b"", body)
    customized_response_dict["Contents"] = found


def _text(raw: bytes) -> str:
    text = raw.decode()
    return html.unescape(text) if "&" in text else text  # most names have no entity


def install(events: Any) -> None:
    """Read ListObjectsV2 pages quickly on a client's event system."""
    if _CHECK_200 is None:  # another botocore: its check stays as it is
        events.register("before-parse.s3.ListObjectsV2", quick_contents)
        return
    events.unregister("before-parse.s3.*", _CHECK_200)
    events.register_first("before-parse.s3.*", _quick_then_check)


def _quick_then_check(operation_model: Any, response_dict: Any, **kwargs: Any) -> None:
    if operation_model.name == "ListObjectsV2":
        quick_contents(response_dict, kwargs["customized_response_dict"])
    assert _CHECK_200 is not None
    _CHECK_200(operation_model=operation_model, response_dict=response_dict, **kwargs)
