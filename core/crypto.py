"""Encryption at rest of provider credentials (Fernet, from the cryptography package).

``CREDENTIALS_ENCRYPTION_KEY`` holds one or more comma-separated Fernet keys: the first
encrypts, all decrypt, so a key can be rotated without downtime.  With DEBUG on and no key, a
development key is derived from SECRET_KEY.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialsUnreadable(Exception):
    """Stored credentials cannot be used: not decryptable with the configured keys, or (the
    subclass below) entered for something else than what they would be sent to."""


class CredentialsNotBound(CredentialsUnreadable):
    """Stored credentials whose binding does not match where they would be sent."""


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


def encrypt_credentials(
    credentials: Mapping[str, str], *, binding: Mapping[str, str] | None = None
) -> str:
    """Encrypt ``credentials``; ``binding`` (what they were entered for, e.g. the provider
    kind and base URL) is encrypted with them, so that it cannot be changed in the database
    without the key."""
    clean = {k: v for k, v in credentials.items() if v}
    if not clean:
        return ""
    payload: dict[str, Any] = (
        {"v": 2, "credentials": clean, "binding": dict(binding)} if binding is not None else clean
    )
    return fernet().encrypt(json.dumps(payload, sort_keys=True).encode()).decode()


def decrypt_bound_credentials(token: str) -> tuple[dict[str, str], dict[str, str] | None]:
    """The credentials and their binding; the binding is None for credentials stored
    before bindings existed (a flat object of credentials)."""
    if not token:
        return {}, None
    try:
        data = json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnreadable(
            "The stored credentials cannot be decrypted with the configured "
            "CREDENTIALS_ENCRYPTION_KEY; enter them again."
        ) from None
    if data.get("v") == 2 and isinstance(data.get("credentials"), dict):
        binding = data.get("binding")
        return (
            {str(k): str(v) for k, v in data["credentials"].items()},
            {str(k): str(v) for k, v in binding.items()} if isinstance(binding, dict) else None,
        )
    return {str(k): str(v) for k, v in data.items()}, None


def decrypt_credentials(token: str) -> dict[str, str]:
    return decrypt_bound_credentials(token)[0]
