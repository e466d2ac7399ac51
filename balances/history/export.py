"""Balances across services as CSV, now or as of a moment, streamed row by row.

The rows come from a database iterator (``QuerySet.iterator(chunk_size=…)``: a server-side
cursor on PostgreSQL), so a million balances take the memory of one chunk.  The same rows
serve the page's download and ``GET /api/v1/balances`` with CSV.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import F, QuerySet
from django.http import StreamingHttpResponse

from balances.history.asof import changes_as_of
from balances.models import Balance, BalanceChange
from core.csvexport import csv_response
from core.money import currencies

CHUNK_SIZE = 2000
HEADER = (
    "service_id",
    "service_name",
    "currency",
    "available",
    "pending",
    "reserved",
    "held",
    "updated_at",
    "updated_by",
)
# "Not zero" filters, as on the page of balances across services.  What payouts held is not
# in the history, so the last two need the current balances.
FIGURES = ("pending", "reserved", "held", "available_for_payout")
CURRENT_ONLY_FIGURES = ("held", "available_for_payout")


@dataclass(frozen=True)
class BalanceFilters:
    """Empty values filter nothing.  ``service`` is a service id (srv_…)."""

    currency: str = ""
    figure: str = ""
    service: str = ""
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        if self.as_of is not None and self.figure in CURRENT_ONLY_FIGURES:
            raise ValueError("What payouts held is known for the current balances only.")


def current_balances(filters: BalanceFilters) -> QuerySet[Balance]:
    """The balances of every service now, with their service, by service then currency."""
    qs = Balance.objects.select_related("service")
    if filters.currency:
        qs = qs.filter(currency=filters.currency)
    if filters.service:
        qs = qs.filter(service__public_id=filters.service)
    if filters.figure in ("pending", "reserved", "held"):
        qs = qs.exclude(**{filters.figure: Decimal(0)})
    elif filters.figure == "available_for_payout":
        qs = qs.exclude(available=F("held"))
    return qs.order_by("service__name", "service_id", "currency")


def balances_then(filters: BalanceFilters) -> QuerySet[BalanceChange]:
    """The entries that set each balance's figures at ``filters.as_of`` (see asof.py)."""
    if filters.as_of is None:
        raise ValueError("balances_then needs a moment (filters.as_of).")
    codes = [filters.currency] if filters.currency else None
    qs = changes_as_of(filters.as_of, currencies=codes).select_related("service")
    if filters.service:
        qs = qs.filter(service__public_id=filters.service)
    if filters.figure in ("pending", "reserved"):
        qs = qs.exclude(**{f"new_{filters.figure}": Decimal(0)})
    return qs.order_by("service__name", "service_id", "currency")


def _amount(value: Decimal | None, code: str) -> str:
    return "" if value is None else currencies.plain_amount(value, code)


def _current_rows(filters: BalanceFilters) -> Iterator[list[Any]]:
    for b in current_balances(filters).iterator(chunk_size=CHUNK_SIZE):
        code = b.currency
        yield [
            b.service.public_id,
            b.service.name,
            code,
            _amount(b.available, code),
            _amount(b.pending, code),
            _amount(b.reserved, code),
            _amount(b.held, code),
            b.updated_at,
            b.updated_by_label,
        ]


def _past_rows(filters: BalanceFilters) -> Iterator[list[Any]]:
    for c in balances_then(filters).iterator(chunk_size=CHUNK_SIZE):
        code = c.currency
        yield [
            c.service.public_id,
            c.service.name,
            code,
            _amount(c.new_available, code),
            _amount(c.new_pending, code),
            _amount(c.new_reserved, code),
            "",  # held: not kept in the history
            c.created_at,
            c.actor_label,
        ]


def export_rows(filters: BalanceFilters) -> Iterator[list[Any]]:
    """The CSV rows (after ``HEADER``): amounts as exact strings with the currency's digits,
    times as datetimes (written in UTC ISO by core.csvexport)."""
    return _past_rows(filters) if filters.as_of is not None else _current_rows(filters)


def balances_csv_response(filters: BalanceFilters) -> StreamingHttpResponse:
    stem = "balances"
    if filters.as_of is not None:
        stem += f"-as-of-{filters.as_of.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return csv_response(HEADER, export_rows(filters), filename=stem)
