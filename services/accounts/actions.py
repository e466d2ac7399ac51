"""API keys: created for a user, shown once, stored only as a SHA-256 hash, revocable.

A key is ``bo_`` + 43 URL-safe characters (256 random bits).  A fast hash is enough for a
random secret of that size (there is no dictionary to try), and it keeps authentication to
one indexed lookup.  ``prefix`` (the first characters) lets a user tell keys apart in lists.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import NotFound
from services.actions import clean_name
from services.models import ApiKey

KEY_PREFIX = "bo_"
PREFIX_LENGTH = 11  # "bo_" + 8 characters: enough to recognise, useless to guess
NAME_MAX_LENGTH = 100
KEY_MAX_LENGTH = 256


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def key_looks_valid(raw: str) -> bool:
    """Cheap check before any query: empty or absurdly long input is not worth hashing.
    (Keys issued here all look like ``bo_`` + 43 characters, but a key is whatever hashes to
    a stored ``key_hash``.)"""
    return 0 < len(raw) <= KEY_MAX_LENGTH


def _clean_name(raw: object) -> str:
    return clean_name(
        raw,
        max_length=NAME_MAX_LENGTH,
        missing="Give the key a name, e.g. the client that will use it.",
    )


@transaction.atomic
def api_key_create(*, user: Any, name: str, read_only: bool = False) -> tuple[ApiKey, str]:
    """Create a key for ``user``; returns it with the raw key, which is never stored and
    cannot be shown again."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        name=_clean_name(name),
        prefix=raw[:PREFIX_LENGTH],
        key_hash=hash_key(raw),
        read_only=bool(read_only),
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, user: Any, key_id: int) -> ApiKey:
    """Revoke one of ``user``'s own keys (revoking twice is harmless)."""
    key = ApiKey.objects.select_for_update().filter(pk=key_id, user=user).first()
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_keys_of(user: Any) -> list[ApiKey]:
    return list(
        ApiKey.objects.filter(user=user).order_by(
            F("revoked_at").asc(nulls_first=True), "-created_at"
        )
    )
