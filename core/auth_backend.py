"""Django's ModelBackend, with what a page asks of the signed-in user loaded in one query.

ModelBackend reads a user's own permissions and their groups' permissions in two queries, and
the top bar then reads the user's groups in a third.  ``PermissionsBackend`` reads all three in
one UNION the first time a request needs any of them, and keeps them on the user object: that
object lives for one request, so a permission or group change applies from the next request
on (nothing is cached across requests).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db import connections, router
from django.db.models import ManyToManyField, Model

from core import rawsql
from core.rawsql import column, table

# The first column of the UNION says what a row is.
_OWN, _VIA_GROUP, _GROUP = "u", "g", "n"


@cache
def _rows_sql(user_model: type[Model], using: str, vendor: str) -> str:
    """The user's own permissions, their groups' permissions and their groups' names, as one
    UNION ALL of (kind, app label, codename or group name), the user's id in each part.

    Hand-written: building the three querysets and their UNION with the ORM took several
    times the CPU of running it, on every request.  Identifiers come from the models and the
    kinds are constants; the user's id is the only value, a parameter."""
    q = connections[using].ops.quote_name
    own_field = user_model._meta.get_field("user_permissions")
    groups_field = user_model._meta.get_field("groups")
    group_perms_field = Group._meta.get_field("permissions")
    assert isinstance(own_field, ManyToManyField) and isinstance(groups_field, ManyToManyField)
    assert isinstance(group_perms_field, ManyToManyField)
    content_type = Permission._meta.get_field("content_type").related_model
    assert content_type is not None and not isinstance(content_type, str)
    own = q(table(own_field.remote_field.through))
    memberships = q(table(groups_field.remote_field.through))
    group_perms = q(table(group_perms_field.remote_field.through))
    perms, groups = q(table(Permission)), q(table(Group))
    content_types = q(table(content_type))
    perm_id, group_id = q(column(Permission, "id")), q(column(Group, "id"))
    ct_id, ct_fk = q(column(content_type, "id")), q(column(Permission, "content_type"))
    app_label = q(column(content_type, "app_label"))
    codename, name = q(column(Permission, "codename")), q(column(Group, "name"))

    def permission(via: str, perm_column: str) -> str:
        return (
            f"INNER JOIN {perms} ON {perms}.{perm_id} = {via}.{q(perm_column)} "
            f"INNER JOIN {content_types} ON {content_types}.{ct_id} = {perms}.{ct_fk}"
        )

    return (
        f"SELECT '{_OWN}', {content_types}.{app_label}, {perms}.{codename} "  # noqa: S608
        f"FROM {own} {permission(own, own_field.m2m_reverse_name())} "
        f"WHERE {own}.{q(own_field.m2m_column_name())} = %s "
        f"UNION ALL SELECT '{_VIA_GROUP}', {content_types}.{app_label}, {perms}.{codename} "
        f"FROM {memberships} INNER JOIN {group_perms} "
        f"ON {group_perms}.{q(group_perms_field.m2m_column_name())} "
        f"= {memberships}.{q(groups_field.m2m_reverse_name())} "
        f"{permission(group_perms, group_perms_field.m2m_reverse_name())} "
        f"WHERE {memberships}.{q(groups_field.m2m_column_name())} = %s "
        f"UNION ALL SELECT '{_GROUP}', '', {groups}.{name} "
        f"FROM {memberships} INNER JOIN {groups} "
        f"ON {groups}.{group_id} = {memberships}.{q(groups_field.m2m_reverse_name())} "
        f"WHERE {memberships}.{q(groups_field.m2m_column_name())} = %s"
    )


def _rows(user: Any) -> list[tuple[str, str, str]]:
    """(kind, app label, codename) for permissions; (kind, "", group name) for groups."""
    using = router.db_for_read(Permission)
    connection = connections[using]
    sql = _rows_sql(user._meta.concrete_model, using, connection.vendor)
    return [tuple(row) for row in rawsql.fetch(sql, [user.pk] * 3, using=using)]


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
