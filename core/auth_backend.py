"""Django's ModelBackend, with what a page asks of the signed-in user loaded in one query.

ModelBackend reads a user's own permissions and their groups' permissions in two queries, and
the top bar then reads the user's groups in a third.  ``PermissionsBackend`` reads all three in
one UNION the first time a request needs any of them, and keeps them on the user object: that
object lives for one request, so a permission or group change applies from the next request
on (nothing is cached across requests).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models import CharField, Value

# The first column of the UNION says what a row is.
_OWN, _VIA_GROUP, _GROUP = "u", "g", "n"


def _rows(user: Any) -> list[tuple[str, str, str]]:
    """(kind, app label, codename) for permissions; (kind, "", group name) for groups."""

    def kind(tag: str) -> Value:
        return Value(tag, output_field=CharField())

    perm_fields = ("content_type__app_label", "codename")
    # No ORDER BY in the parts of a UNION: SQLite refuses it (Permission has a default one).
    own = Permission.objects.filter(user=user).order_by().values_list(kind(_OWN), *perm_fields)
    via_groups = (
        Permission.objects.filter(group__user=user)
        .order_by()
        .values_list(kind(_VIA_GROUP), *perm_fields)
    )
    groups = Group.objects.filter(user=user).order_by().values_list(kind(_GROUP), kind(""), "name")
    return list(own.union(via_groups, groups))


def load_user_permissions(user: Any) -> None:
    """Fill ModelBackend's per-request caches (``_user_perm_cache``, ``_group_perm_cache``,
    ``_perm_cache``) and the group names, in one query."""
    own: set[str] = set()
    via_groups: set[str] = set()
    names: list[str] = []
    for kind, app_label, name in _rows(user):
        if kind == _GROUP:
            names.append(name)
        else:
            (own if kind == _OWN else via_groups).add(f"{app_label}.{name}")
    user._user_perm_cache = own
    user._group_perm_cache = via_groups
    user._perm_cache = own | via_groups
    user._group_names_cache = sorted(names)


class PermissionsBackend(ModelBackend):
    """ModelBackend's answers, from one query per request (see the module's docstring):
    ModelBackend answers from ``_perm_cache``, ``_user_perm_cache`` and ``_group_perm_cache``
    without a query once they are filled.  Superusers keep ModelBackend's own path
    (``has_perm`` answers True for them without asking any backend)."""

    def _load(self, user_obj: Any, obj: Any) -> None:
        if (
            user_obj.is_active
            and not user_obj.is_anonymous
            and not user_obj.is_superuser
            and obj is None
            and not hasattr(user_obj, "_perm_cache")
        ):
            load_user_permissions(user_obj)

    def get_user_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        self._load(user_obj, obj)
        return super().get_user_permissions(user_obj, obj)

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        self._load(user_obj, obj)
        return super().get_group_permissions(user_obj, obj)

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        self._load(user_obj, obj)
        return super().get_all_permissions(user_obj, obj)


def group_names(user: Any) -> list[str]:
    """The names of the user's groups (the top bar's badges), by name: read with the
    permissions when ``PermissionsBackend`` loaded them, else in a query of their own."""
    names = getattr(user, "_group_names_cache", None)
    if names is None and user.is_authenticated and user.is_active and not user.is_superuser:
        user.get_all_permissions()  # a superuser's would be every permission: not for this
        names = getattr(user, "_group_names_cache", None)
    if names is None:
        names = sorted(user.groups.values_list("name", flat=True)) if user.is_authenticated else []
        user._group_names_cache = names
    return list(names)
