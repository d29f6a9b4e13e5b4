"""Webhook signatures: both schemes, recomputed here independently."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from publisher.delivery.signatures import SignatureError, sign, verify

BODY = b'{"timestamp":1700000000,"overrides":{}}'


def test_sign_both_ways() -> None:
    """X-GrowthBook-Signature is hex HMAC of the body; webhook-signature is v1,base64 HMAC of id.ts.body."""
    signed = sign("s3cret", BODY, now=1700000000, message_id="msg_1")
    headers = signed.headers
    assert (
        headers["X-GrowthBook-Signature"] == hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    )
    expected = base64.b64encode(
        hmac.new(b"s3cret", b"msg_1.1700000000." + BODY, hashlib.sha256).digest()
    )
    assert headers["webhook-signature"] == "v1," + expected.decode()
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == "1700000000"


def test_whsec_secret_is_base64_key() -> None:
    """A `whsec_` secret signs Standard Webhooks with its decoded key, as their libraries do."""
    key = b"0123456789abcdef"
    secret = "whsec_" + base64.b64encode(key).decode()
    headers = sign(secret, BODY, now=1700000000, message_id="msg_2").headers
    expected = base64.b64encode(hmac.new(key, b"msg_2.1700000000." + BODY, hashlib.sha256).digest())
    assert headers["webhook-signature"] == "v1," + expected.decode()


@pytest.mark.parametrize("drop", ["webhook-signature", "X-GrowthBook-Signature"])
def test_verify_either(drop: str) -> None:
    """Either signature alone verifies."""
    headers = dict(sign("k", BODY, now=1000).headers)
    del headers[drop]
    assert verify(headers, BODY, "k", now=1000) in ("growthbook", "standard-webhooks")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("body", "does not match"),
        ("secret", "does not match"),
        ("old", "more than 300 s off"),
        ("none", "no signature header"),
    ],
)
def test_verify_rejects(change: str, message: str) -> None:
    """A tampered body, a wrong secret, an old timestamp or no header are rejected."""
    headers = dict(sign("k", BODY, now=1000).headers)
    body, secret, now = BODY, "k", 1000.0
    if change == "body":
        body = BODY.replace(b"{}", b'{"x":{}}')
    elif change == "secret":
        secret = "other"
    elif change == "old":
        now = 1000 + 301
    elif change == "none":
        headers = {"Content-Type": "application/json"}
    with pytest.raises(SignatureError) as err:
        verify(headers, body, secret, now=now)
    assert message in str(err.value)
