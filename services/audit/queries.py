"""Reads of the audit log: filters, keyset pages and the CSV export's rows.

Filters (``services.audit.forms.AuditFilterForm``): ``from``/``to`` (UTC, inclusive),
``actor`` (label contains, case-insensitive, or exact username), ``objectType`` and
``objectId`` (exact), ``action`` (contains: ``payout`` finds every payout action).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from django.db.models import Q, QuerySet

from core.csvexport import iterate
from core.keyset import Cursor, KeysetPage, keyset_page
from services.models import AuditEntry

CURSOR_SALT = "audit-log"
PAGE_SIZE = 50


def filtered_audit(filters: Mapping[str, Any]) -> QuerySet[AuditEntry]:
    """Entries matching the cleaned ``filters``, with their service and user joined;
    unordered (pages and exports order by ``(created_at, id)``)."""
    qs = AuditEntry.objects.select_related("service", "actor_user")
    if filters.get("from"):
        qs = qs.filter(created_at__gte=filters["from"])
    if filters.get("to"):
        qs = qs.filter(created_at__lte=filters["to"])
    if filters.get("actor"):
        name = filters["actor"]
        qs = qs.filter(Q(actor_label__icontains=name) | Q(actor_user__username=name))
    if filters.get("objectType"):
        qs = qs.filter(object_type=filters["objectType"])
    if filters.get("objectId"):
        qs = qs.filter(object_id=filters["objectId"])
    if filters.get("action"):
        qs = qs.filter(action__icontains=filters["action"])
    return qs


def audit_page(
    qs: QuerySet[AuditEntry], *, cursor: Cursor | None, size: int | None = None
) -> KeysetPage:
    return keyset_page(qs, cursor=cursor, size=size or PAGE_SIZE, salt=CURSOR_SALT)


def before_after(entry: AuditEntry) -> tuple[dict[str, Any], dict[str, Any]]:
    """The object's fields before and after the write.  ``[old, new]`` pairs are changes;
    a plain value is what was created (after) or, for a deletion or revocation, what went
    (before)."""
    went = entry.action.endswith(("_deleted", "_revoked", "_disconnected"))
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for field, value in (entry.changes or {}).items():
        if isinstance(value, list) and len(value) == 2:
            before[field], after[field] = value
        elif went:
            before[field] = value
        else:
            after[field] = value
    return before, after


CSV_HEADER = [
    "created_at",
    "actor",
    "via",
    "action",
    "object_type",
    "object_id",
    "subject",
    "service_id",
    "reason",
    "before",
    "after",
]


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if value else ""


def csv_rows(qs: QuerySet[AuditEntry]) -> Iterator[list[Any]]:
    """Every matching entry, newest first, streamed (constant memory)."""
    for entry in iterate(qs.order_by("-created_at", "-id")):
        before, after = before_after(entry)
        yield [
            entry.created_at,
            entry.actor_label,
            entry.via,
            entry.action,
            entry.object_type,
            entry.object_id,
            entry.subject,
            entry.service.public_id if entry.service else "",
            entry.reason,
            _json(before),
            _json(after),
        ]
