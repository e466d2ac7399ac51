"""What the API's permission checks and throttles need to know of the caller, whatever
authenticated it (an app's authentication class puts its key object in ``request.auth``)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from core.auth_backend import load_user_permissions


def preload_permissions(user: Any) -> None:
    """Load the user's permissions (their own and their groups') in one query, where Django's
    ModelBackend looks for them (``_perm_cache``), instead of its two queries per request.
    The set is per request: a role change applies from the next request on."""
    if user.is_superuser:
        return  # has_perm() answers True without looking
    load_user_permissions(user)


def api_key_of(request: Request) -> Any | None:
    """The API key the request was authenticated with (an object with ``pk`` and
    ``read_only``), or None for a session or an anonymous request."""
    auth = getattr(request, "auth", None)
    return auth if auth is not None and hasattr(auth, "read_only") else None
