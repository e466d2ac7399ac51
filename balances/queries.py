"""Reads of balances, tuned: a fixed number of queries whatever the number of balances."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import DateTimeField, JSONField, OuterRef, QuerySet, Subquery
from django.db.models.functions import JSONObject
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from approvals.models import ApprovalRequest
from balances.models import Balance, BalanceChange, SyncRun
from balances.reviews.queries import with_open_review
from core.errors import NotFound
from core.money import currencies
from services.models import ProviderConnection, Service


@dataclass(frozen=True)
class BalanceCard:
    balance: Balance
    info: currencies.CurrencyInfo
    stale: bool

    @property
    def on_hold(self) -> Decimal:
        return self.balance.held

    @property
    def available_for_payout(self) -> Decimal:
        return self.balance.available_for_payout

    @property
    def pending_approval(self) -> str | None:
        """The id of the approval request waiting on this balance, if any."""
        return getattr(self.balance, "pending_approval_id", None)

    @property
    def review_id(self) -> str | None:
        """The review waiting on this balance (a sync held back by a value set by hand)."""
        return getattr(self.balance, "review_id", None)

    @property
    def review_provider_available(self) -> Decimal | None:
        return getattr(self.balance, "review_provider_available", None)

    @property
    def review_difference(self) -> Decimal | None:
        """What the provider reports minus the value set by hand."""
        provider = self.review_provider_available
        return None if provider is None else provider - self.balance.available

    @property
    def below_holds(self) -> bool:
        """Open payouts hold more than is available (a sync reported less): marked on the
        card, for an operator to act."""
        return self.balance.held > 0 and self.balance.available < self.balance.held


def balances_for_service(service: Service) -> list[Balance]:
    return list(Balance.objects.filter(service=service).order_by("currency"))


def last_sync_run(service: Service) -> SyncRun | None:
    """The service's latest sync run: carried by a service from
    :func:`service_with_last_run` (no query), else read."""
    if hasattr(service, "last_run_row"):
        return _run_from_row(service.last_run_row, service)
    return SyncRun.objects.filter(service=service).order_by("-created_at", "-id").first()


def service_with_last_run(public_id: str) -> Service:
    """``service_get``'s service (connection and fee profile joined) carrying its latest sync
    run, read in the same statement: a subquery on ``sync_run_service_idx`` builds the run's
    row as a JSON object (``last_run_row``, None without a run), which
    :func:`last_sync_run` turns back into a SyncRun.  ``NotFound`` otherwise."""
    row = JSONObject(**{f.attname: f.attname for f in SyncRun._meta.concrete_fields})
    latest = (
        SyncRun.objects.filter(service_id=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values(row=row)[:1]
    )
    service = (
        Service.objects.select_related("provider_connection", "fee_profile")
        .annotate(last_run_row=Subquery(latest, output_field=JSONField()))
        .filter(public_id=public_id)
        .first()
    )
    if service is None:
        raise NotFound("No such service.")
    return service


def _run_from_row(row: dict[str, Any] | None, service: Service) -> SyncRun | None:
    """The SyncRun whose columns ``row`` holds as JSON (datetimes as ISO text, naive UTC on
    SQLite; the ``result`` JSON as text on SQLite), as if read from the database."""
    if row is None:
        return None
    fields = SyncRun._meta.concrete_fields
    run = SyncRun.from_db(
        DEFAULT_DB_ALIAS,
        [f.attname for f in fields],
        [_column(f, row.get(f.attname)) for f in fields],
    )
    run.service = service  # its summary links to the service: no query for it
    return run


def _column(field: Any, raw: Any) -> Any:
    if raw is None:
        return None
    if isinstance(field, JSONField):
        # SQLite's JSON_OBJECT embeds the stored JSON text as a string.
        return json.loads(raw) if isinstance(raw, str) and connection.vendor == "sqlite" else raw
    if isinstance(field, DateTimeField):
        moment = parse_datetime(raw)
        if moment is None:
            raise ValueError(f"Not a datetime: {raw!r}")
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
    return field.to_python(raw)


def balance_cards(service: Service, *, flag_stale: bool = False) -> list[BalanceCard]:
    """The service's balances with what payouts hold on them (a column of the row).  Queries:
    the balances (each with the approval request and the sync review waiting on it, in the
    same statement).
    ``flag_stale`` for a service whose balances come from a provider."""
    now = timezone.now()
    waiting = ApprovalRequest.objects.filter(
        service_id=OuterRef("service_id"),
        currency=OuterRef("currency"),
        status=ApprovalRequest.Status.PENDING,
        kind__in=ApprovalRequest.BALANCE_KINDS,
        expires_at__gt=now,
    ).values("public_id")[:1]
    balances = list(
        with_open_review(Balance.objects.filter(service=service))
        .annotate(pending_approval_id=Subquery(waiting))
        .order_by("currency")
    )
    return [
        BalanceCard(
            balance=b,
            info=currencies.get(b.currency),
            stale=flag_stale and b.is_stale(now),
        )
        for b in balances
    ]


def balances_page_context(service: Service) -> dict[str, Any]:
    """Queries: the balances (with their holds), the last sync run (and the connection,
    already joined by ``service_get``)."""
    connection: ProviderConnection | None = getattr(service, "provider_connection", None)
    cards = balance_cards(service, flag_stale=connection is not None)
    last_run = last_sync_run(service)
    return {
        "cards": cards,
        "connection": connection,
        "last_run": last_run,
        "active_run": last_run if last_run and last_run.is_active else None,
    }


def balance_get(service: Service, currency: str) -> Balance:
    """The service's balance in ``currency`` (a code as typed: " eur " is EUR), for pages and
    API alike; ``NotFound`` otherwise."""
    code = currencies.normalise_code(currency)
    balance = Balance.objects.filter(service=service, currency=code).first()
    if balance is None:
        raise NotFound(f"{service.public_id} has no {code} balance.")
    return balance


def sync_run_get(public_id: str, *, service: Service | None = None) -> SyncRun:
    """A sync run with its service and requester, for pages (within one service) and the API
    (by id alone); ``NotFound`` otherwise."""
    qs = SyncRun.objects.select_related("service", "requested_by")
    if service is not None:
        qs = qs.filter(service=service)
    run = qs.filter(public_id=public_id).first()
    if run is None:
        raise NotFound(f"No sync run {public_id}.")
    return run


def history(*, service: Service, currency: str | None = None) -> QuerySet[BalanceChange]:
    qs = BalanceChange.objects.filter(service=service).select_related("sync_run")
    if currency:
        qs = qs.filter(currency=currency)
    return qs.order_by("-created_at", "-id")


def currency_history(
    *, service: Service, currency: str
) -> tuple[Balance | None, QuerySet[BalanceChange]]:
    """A currency's balance (None once deleted) and its history, newest first: readable as
    long as either exists, else 404."""
    changes = history(service=service, currency=currency)
    balance = Balance.objects.filter(service=service, currency=currency).first()
    if balance is None and not changes.exists():
        raise NotFound(f"{service.public_id} has no {currency} balance or history.")
    return balance, changes


def sync_runs_filtered(
    *,
    service: Service | None = None,
    status: str = "",
    provider: str = "",
    trigger: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[SyncRun]:
    """Sync runs, newest first: one service's or every service's, narrowed by the filters
    given; the days are inclusive, in the site's time zone (UTC), like the Sync runs page."""
    qs = SyncRun.objects.order_by("-created_at", "-id")
    if service is not None:
        qs = qs.filter(service=service)
    if status:
        qs = qs.filter(status=status)
    if provider:
        qs = qs.filter(provider_kind=provider)
    if trigger:
        qs = qs.filter(trigger=trigger)
    if date_from is not None:
        qs = qs.filter(created_at__gte=_day_start(date_from))
    if date_to is not None:
        qs = qs.filter(created_at__lt=_day_start(date_to + timedelta(days=1)))
    return qs


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())
