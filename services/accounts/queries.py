"""Reads of API keys."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.errors import NotFound
from services.models import ApiKey


def api_keys_of(*, user: Any) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at")


def api_key_get(*, user: Any, key_id: int) -> ApiKey:
    """One of ``user``'s own keys; another user's key is as unknown as a missing one."""
    key = ApiKey.objects.filter(pk=key_id, user=user).first()
    if key is None:
        raise NotFound("No such API key.")
    return key
