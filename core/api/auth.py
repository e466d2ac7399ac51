"""What the API's permission checks and throttles need to know of the caller, whatever
authenticated it (an app's authentication class puts its key object in ``request.auth``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from rest_framework.request import Request


def preload_permissions(user: Any) -> None:
    """Load the user's permissions (their own and their groups') in one query, where Django's
    ModelBackend looks for them (``_perm_cache``), instead of its two queries per request.
    The set is per request: a role change applies from the next request on."""
    if user.is_superuser:
        return  # has_perm() answers True without looking
    fields = ("content_type__app_label", "codename")
    # No ORDER BY in the parts of a UNION: SQLite refuses it (Permission has a default one).
    own = Permission.objects.filter(user=user).order_by().values_list(*fields)
    via_groups = Permission.objects.filter(group__user=user).order_by().values_list(*fields)
    user._perm_cache = {f"{app}.{codename}" for app, codename in own.union(via_groups)}


def api_key_of(request: Request) -> Any | None:
    """The API key the request was authenticated with (an object with ``pk`` and
    ``read_only``), or None for a session or an anonymous request."""
    auth = getattr(request, "auth", None)
    return auth if auth is not None and hasattr(auth, "read_only") else None
