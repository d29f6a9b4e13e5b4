"""Sign and verify webhook bodies: GrowthBook's header and Standard Webhooks (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_TOLERANCE = 300  # seconds a webhook-timestamp may be off
_STAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: "²".isdigit() is True


class SignatureError(Exception):
    """The body is not signed with the expected secret, or the signature is too old."""


@dataclass(frozen=True)
class Signed:
    headers: dict[str, str]
    message_id: str
    timestamp: int


def _standard_key(secret: str) -> bytes:
    # Standard Webhooks secrets are `whsec_` + base64 of the key; any other string
    # is used as it is (as GrowthBook's own header always does).
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except ValueError:
            pass
    return secret.encode()


def growthbook_signature(secret: str, body: bytes) -> str:
    """Return hex HMAC-SHA256(secret, body): the X-GrowthBook-Signature header."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign(
    secret: str, body: bytes, now: float | None = None, message_id: str | None = None
) -> Signed:
    """Return the headers that sign `body` both ways."""
    timestamp = int(time.time() if now is None else now)
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    headers = {
        "Content-Type": "application/json",
        "X-GrowthBook-Signature": growthbook_signature(secret, body),
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, message_id, timestamp, body),
    }
    return Signed(headers, message_id, timestamp)


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> str:
    """Check either signature in constant time; return which one matched.

    Standard Webhooks: `webhook-id`, `webhook-timestamp` (within `tolerance` seconds)
    and any `v1,` entry of `webhook-signature`. GrowthBook: `X-GrowthBook-Signature`.
    Raises SignatureError when neither holds.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    now = time.time() if now is None else now
    if "webhook-signature" in lower:
        message_id, stamp = lower.get("webhook-id", ""), lower.get("webhook-timestamp", "")
        if not _STAMP.fullmatch(stamp):
            raise SignatureError("webhook-timestamp is missing or not a number")
        if abs(now - int(stamp)) > tolerance:
            raise SignatureError(f"webhook-timestamp is more than {tolerance} s off: a replay?")
        expected = standard_signature(secret, message_id, int(stamp), body)
        for candidate in lower["webhook-signature"].split():
            if hmac.compare_digest(candidate.encode(), expected.encode()):
                return "standard-webhooks"
        raise SignatureError("webhook-signature does not match")
    given = lower.get("x-growthbook-signature")
    if given is None:
        raise SignatureError("no signature header (X-GrowthBook-Signature or webhook-signature)")
    if not hmac.compare_digest(
        given.strip().lower().encode(), growthbook_signature(secret, body).encode()
    ):
        raise SignatureError("X-GrowthBook-Signature does not match")
    return "growthbook"
