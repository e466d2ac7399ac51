"""The ``Backoffice-Signature`` header: Stripe's documented scheme.

    Backoffice-Signature: t=1733222400,v1=5257a869e7ec…

``v1`` is the hex HMAC-SHA256, keyed with the webhook's secret (the whole ``whsec_…`` string,
as UTF-8), of ``"<t>.<raw body>"``.  While a rolled secret is still valid the header carries
one ``v1`` per secret.  A receiver recomputes the HMAC over the raw bytes it received,
compares in constant time with any ``v1``, and refuses a ``t`` outside its tolerance (replays).
:func:`verify` is that receiver, in a few lines (the tests use it as a client would).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable

HEADER = "Backoffice-Signature"
SCHEME = "v1"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    """``whsec_`` + 32 random bytes, URL-safe base64."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def compute(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def header_value(secrets_: Iterable[str], timestamp: int, body: bytes) -> str:
    parts = [f"t={timestamp}"]
    parts += [f"{SCHEME}={compute(secret, timestamp, body)}" for secret in secrets_]
    return ",".join(parts)


class SignatureInvalid(Exception):
    pass


def verify(
    header: str,
    body: bytes,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """What a receiver does: return the signed timestamp, or raise :class:`SignatureInvalid`."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureInvalid("no timestamp or no v1 signature")
    expected = compute(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureInvalid("no signature matches")
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureInvalid("timestamp outside the tolerance")
    return timestamp
