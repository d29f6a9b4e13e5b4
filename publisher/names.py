"""The patterns of the names the publisher checks before it uses them: an S3 bucket and a
region (an API key's is in redact.py, beside every way of hiding one)."""

from __future__ import annotations

import re

BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
"""An S3 bucket name, whole (`fullmatch`): 3-63 of a-z, 0-9, '.' and '-'."""
REGION_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
"""A store's region, by botocore's own rule (`eu-west-1`, R2's `auto`), whole
(`fullmatch`)."""
AWS_REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
"""One of AWS's own regions (`eu-west-1`), whole: what a CloudFormation template names;
an S3-compatible store's region (R2's `auto`) is no such thing."""

HEADER_VALUE_MAX = 1024
"""The longest header value (--cache-control) taken: far more than any Cache-Control
needs, and within what the bookkeeping records of it (schema: 4096)."""


def header_value_problem(value: str) -> str | None:
    """What is wrong with `value` as an HTTP header value (None: nothing): printable
    ASCII, not blank, at most HEADER_VALUE_MAX characters (a trailing newline from a YAML
    block would otherwise reach every PUT)."""
    if not value.strip():
        return "give a value: it is empty"
    if any(not (" " <= c <= "~") for c in value):
        return "give a value of printable ASCII (no newline or control character)"
    if len(value) > HEADER_VALUE_MAX:
        return f"give at most {HEADER_VALUE_MAX} characters, not {len(value)}"
    return None
