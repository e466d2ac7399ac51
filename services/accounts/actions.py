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

from core.actors import Actor
from core.errors import NotFound
from services.actions import audit, clean_name
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


def _audit_key(key: ApiKey, *, action: str, actor: Actor | None, changes: dict[str, Any]) -> None:
    """Audited by its prefix (shown on the API keys page), never the key or its hash."""
    audit(
        actor=actor or Actor.for_user(key.user),
        action=action,
        subject=f"API key {key.name} ({key.prefix}…) of {key.user.get_username()}",
        changes=changes,
        object_type="api_key",
        object_id=key.prefix,
    )


@transaction.atomic
def api_key_create(
    *, user: Any, name: str, read_only: bool = False, actor: Actor | None = None
) -> tuple[ApiKey, str]:
    """Create a key for ``user``; returns it with the raw key, which is never stored and
    cannot be shown again.  ``actor``: who did it (the page's session); the user by
    default."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        name=_clean_name(name),
        prefix=raw[:PREFIX_LENGTH],
        key_hash=hash_key(raw),
        read_only=bool(read_only),
    )
    _audit_key(
        key,
        action="api_key_created",
        actor=actor,
        changes={"name": key.name, "prefix": key.prefix, "read_only": key.read_only},
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, user: Any, key_id: int, actor: Actor | None = None) -> ApiKey:
    """Revoke one of ``user``'s own keys (revoking twice is harmless, and audited once)."""
    key = ApiKey.objects.select_for_update().filter(pk=key_id, user=user).first()
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        _audit_key(
            key,
            action="api_key_revoked",
            actor=actor,
            changes={"name": key.name, "prefix": key.prefix, "read_only": key.read_only},
        )
    return key


def api_keys_of(user: Any) -> list[ApiKey]:
    return list(
        ApiKey.objects.filter(user=user).order_by(
            F("revoked_at").asc(nulls_first=True), "-created_at"
        )
    )
