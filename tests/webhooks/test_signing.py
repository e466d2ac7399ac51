"""webhooks/signing.py: the header, and the reference verification a receiver performs."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from webhooks import signing

BODY = b'{"id":"evt_1","type":"sync.failed","createdAt":"2024-12-03T14:07:00.000Z","data":{}}'


def test_the_header_is_t_and_v1_of_hmac_sha256_over_t_dot_body():
    secret = signing.new_secret()
    header = signing.header_value([secret], 1733234820, BODY)
    expected = hmac.new(secret.encode(), b"1733234820." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1733234820,v1={expected}"


def test_secrets_are_whsec_and_32_random_bytes():
    secrets = {signing.new_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(s.startswith("whsec_") and len(s) == 6 + 43 for s in secrets)


def test_verify_accepts_any_current_signature_within_the_tolerance():
    old, new = signing.new_secret(), signing.new_secret()
    header = signing.header_value([new, old], 1000, BODY)
    assert signing.verify(header, BODY, old, now=1100) == 1000
    assert signing.verify(header, BODY, new, now=900) == 1000


@pytest.mark.parametrize(
    ("header", "body", "now"),
    [
        ("replay", BODY, 1000 + 301),
        ("good", BODY + b" ", 1000),
        ("t=1000", BODY, 1000),
        ("", BODY, 1000),
        ("other", BODY, 1000),
    ],
)
def test_verify_refuses(header, body, now):
    secret = signing.new_secret()
    if header in ("replay", "good"):
        header = signing.header_value([secret], 1000, BODY)
    elif header == "other":
        header = signing.header_value([signing.new_secret()], 1000, BODY)
    with pytest.raises(signing.SignatureInvalid):
        signing.verify(header, body, secret, now=now)
