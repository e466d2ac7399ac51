"""Removing credentials from text a third party sent us (provider error messages) before it
is stored, shown or logged.

A provider may echo a secret in another form than we sent it: URL-encoded, JSON- or
HTML-escaped, base64 (HTTP Basic sends ``base64(user:password)``), hex, in another case, or
only a part of it.  :func:`redact` replaces every form of every secret, in any case, and any
run of :data:`MIN_FRAGMENT` or more characters taken from one of those forms (so a prefix, a
suffix or a middle part of a key goes too).  Redacting a little too much is the safe failure.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MIN_FRAGMENT = 8
# Shorter secrets are only redacted as a whole (from this length on): a 2-character
# "secret" would blank out half of every message.
MIN_SECRET = 3
MASK = "***"


def _lower(text: str) -> str:
    # Character by character, so that indexes still match the original ("İ".lower() is two
    # characters long).
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _base64_forms(raw: bytes) -> set[str]:
    """base64 of ``raw`` as it appears inside a longer base64 text, at each of the three
    alignments: the characters that depend on neighbouring bytes are left out."""
    forms: set[str] = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode("ascii").rstrip("=")
        start = (pad * 8 + 5) // 6
        end = len(encoded) - (1 if (pad + len(raw)) % 3 else 0)
        core = encoded[start:end]
        forms.update({core, core.replace("+", "-").replace("/", "_")})
    encoded = base64.b64encode(raw).decode("ascii")
    forms.update({encoded, base64.urlsafe_b64encode(raw).decode("ascii")})
    return {f for f in forms if f}


def secret_forms(secret: str) -> set[str]:
    """The ways ``secret`` may come back to us."""
    raw = secret.encode("utf-8")
    forms = {
        secret,
        secret.strip(),
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        html.escape(secret),
        raw.hex(),
        "".join(f"%{byte:02x}" for byte in raw),  # every byte percent-encoded
    }
    forms |= _base64_forms(raw)
    return {f for f in forms if len(f) >= MIN_SECRET}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret (and every long enough piece of one)
    replaced by ``***``."""
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret.strip()) >= MIN_SECRET:
            forms |= {_lower(f) for f in secret_forms(secret)}
    if not forms or not text:
        return text
    low = _lower(text)
    hidden = [False] * len(text)

    def hide(start: int, length: int) -> None:
        for i in range(start, min(start + length, len(text))):
            hidden[i] = True

    fragments: set[str] = set()
    for form in forms:
        if len(form) < MIN_FRAGMENT:
            start = low.find(form)
            while start != -1:
                hide(start, len(form))
                start = low.find(form, start + 1)
        else:
            fragments.update(
                form[i : i + MIN_FRAGMENT] for i in range(len(form) - MIN_FRAGMENT + 1)
            )
    if fragments:
        for i in range(len(text) - MIN_FRAGMENT + 1):
            if low[i : i + MIN_FRAGMENT] in fragments:
                hide(i, MIN_FRAGMENT)

    out: list[str] = []
    i = 0
    while i < len(text):
        if hidden[i]:
            while i < len(text) and hidden[i]:
                i += 1
            out.append(MASK)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
