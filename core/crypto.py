"""Encryption at rest of provider credentials (Fernet, from the cryptography package).

``CREDENTIALS_ENCRYPTION_KEY`` holds one or more comma-separated Fernet keys: the first
encrypts, all decrypt, so a key can be rotated without downtime.  With DEBUG on and no key, a
development key is derived from SECRET_KEY.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialsUnreadable(Exception):
    """Stored credentials cannot be decrypted with the configured keys."""


@cache
def _fernet(keys: str, secret_key: str) -> MultiFernet:
    raw_keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not raw_keys:
        derived = hashlib.sha256(("credentials:" + secret_key).encode()).digest()
        raw_keys = [base64.urlsafe_b64encode(derived).decode()]
    try:
        return MultiFernet([Fernet(k) for k in raw_keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "CREDENTIALS_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64-encoded bytes), "
            "comma-separated."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(settings.CREDENTIALS_ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt_credentials(credentials: dict[str, str]) -> str:
    clean = {k: v for k, v in credentials.items() if v}
    if not clean:
        return ""
    return fernet().encrypt(json.dumps(clean, sort_keys=True).encode()).decode()


def decrypt_credentials(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        data = json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnreadable(
            "The stored credentials cannot be decrypted with the configured "
            "CREDENTIALS_ENCRYPTION_KEY; enter them again."
        ) from None
    return {str(k): str(v) for k, v in data.items()}
