"""Reads of the balance history for its page, its API and its CSV export: filters, keyset
pages (fast however deep: see ``core.keyset``) and the export's rows.

Filters (``balances.forms.HistoryFilterForm``, parsed the same way for every door):
``from``/``to`` (UTC, inclusive), ``actorKind`` (person, sync, payout, approval = applied by
approving a request, system), ``actor`` (label contains, or exact username; approvers
count), ``currency`` and ``reason`` (contains, case-insensitive).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

from balances.models import BalanceChange
from core.actors import ActorType
from core.csvexport import iterate
from core.keyset import Cursor, KeysetPage, keyset_page
from core.money import currencies
from services.models import Service

CURSOR_SALT = "balance-history"
PAGE_SIZE = 50
FIGURES = ("available", "pending", "reserved")

_ACTOR_KINDS: dict[str, Q] = {
    "person": Q(actor_type=ActorType.USER),
    "sync": Q(actor_type=ActorType.SYNC),
    "payout": Q(actor_type=ActorType.PAYOUT),
    "approval": ~Q(approved_by_label=""),
    "system": Q(actor_type=ActorType.SYSTEM),
}


def filtered_history(
    *, service: Service, currency: str | None, filters: Mapping[str, Any]
) -> QuerySet[BalanceChange]:
    """The service's changes (of ``currency`` when given) matching the cleaned ``filters``;
    unordered (the page or the export orders by ``(created_at, id)``)."""
    qs = BalanceChange.objects.filter(service=service).select_related("sync_run")
    code = currency or filters.get("currency")
    if code:
        qs = qs.filter(currency=code)
    if filters.get("from"):
        qs = qs.filter(created_at__gte=filters["from"])
    if filters.get("to"):
        qs = qs.filter(created_at__lte=filters["to"])
    if filters.get("actorKind"):
        qs = qs.filter(_ACTOR_KINDS[filters["actorKind"]])
    if filters.get("actor"):
        name = filters["actor"]
        qs = qs.filter(
            Q(actor_label__icontains=name)
            | Q(actor_user__username=name)
            | Q(approved_by_label__icontains=name)
        )
    if filters.get("reason"):
        qs = qs.filter(reason__icontains=filters["reason"])
    return qs


def history_page(
    qs: QuerySet[BalanceChange], *, cursor: Cursor | None, size: int | None = None
) -> KeysetPage:
    """One page, newest first (one query, the sync runs joined)."""
    return keyset_page(qs, cursor=cursor, size=size or PAGE_SIZE, salt=CURSOR_SALT)


def figure_delta(change: BalanceChange, figure: str) -> Decimal | None:
    """How much ``figure`` moved: created counts from nothing, deleted to nothing."""
    old, new = getattr(change, f"old_{figure}"), getattr(change, f"new_{figure}")
    if old is None and new is None:
        return None
    return (new or Decimal(0)) - (old or Decimal(0))


@dataclass(frozen=True)
class HistoryRow:
    """A change with, per figure it touched, (figure, old, new, delta) for the page."""

    change: BalanceChange
    figures: list[tuple[str, Decimal | None, Decimal | None, Decimal | None]]


def history_rows(changes: list[BalanceChange]) -> list[HistoryRow]:
    return [
        HistoryRow(
            change=c,
            figures=[(name, old, new, figure_delta(c, name)) for name, old, new in c.figures()],
        )
        for c in changes
    ]


CSV_HEADER = [
    "created_at",
    "service_id",
    "currency",
    "kind",
    "actor_type",
    "actor",
    "approved_by",
    "approval_id",
    "sync_run_id",
    "payout_id",
    "version",
    *[f"{prefix}_{figure}" for figure in FIGURES for prefix in ("old", "new", "change")],
    "reason",
]


def _amount(value: Decimal | None, currency: str) -> str | None:
    return None if value is None else currencies.plain_amount(value, currency)


def csv_rows(qs: QuerySet[BalanceChange], *, service: Service) -> Iterator[list[Any]]:
    """Every matching change, newest first, streamed (constant memory)."""
    for c in iterate(qs.order_by("-created_at", "-id")):
        figures: list[str | None] = []
        for figure in FIGURES:
            old, new = getattr(c, f"old_{figure}"), getattr(c, f"new_{figure}")
            figures += [
                _amount(old, c.currency),
                _amount(new, c.currency),
                _amount(figure_delta(c, figure), c.currency),
            ]
        yield [
            c.created_at,
            service.public_id,
            c.currency,
            c.kind,
            c.actor_type,
            c.actor_label,
            c.approved_by_label,
            c.approval_public_id,
            c.sync_run.public_id if c.sync_run else "",
            c.payout_public_id,
            c.version,
            *figures,
            c.reason,
        ]
