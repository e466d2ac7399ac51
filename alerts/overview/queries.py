"""Reads of the overview: totals per currency, what needs attention, and the lists across
services (balances behind a total, sync runs, payouts waiting on someone).

Every function here costs a fixed number of queries whatever the number of services: totals
are one ``GROUP BY``, and each kind of attention row comes from one query with its service
(and provider connection) joined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from alerts.models import AMOUNT_KINDS, Alert
from balances.models import Balance, SyncRun
from balances.providers.base import provider_label
from balances.queries import sync_runs_filtered
from balances.reviews.queries import with_open_review
from core.money import currencies
from core.money.dbfields import AmountSum
from core.plain import counted
from payouts.models import Payout
from services.models import ProviderConnection, Service

# --- totals per currency ------------------------------------------------------------------

FIGURES: dict[str, str] = {
    "available": "Available",
    "pending": "Pending",
    "reserved": "Reserved",
    "held": "On hold for payouts",
    "available_for_payout": "Available for payout",
}


@dataclass(frozen=True)
class CurrencyTotal:
    """The sums of one currency's balances across services (exact: integer sums in SQL)."""

    currency: str
    available: Decimal
    pending: Decimal
    reserved: Decimal
    held: Decimal
    services: int

    @property
    def available_for_payout(self) -> Decimal:
        return self.available - self.held

    @property
    def currency_name(self) -> str:
        return _currency_name(self.currency)


def _currency_name(code: str) -> str:
    try:
        return currencies.get(code).name
    except currencies.AmountError:
        return code


def _sums() -> dict[str, Sum | Count]:
    return {
        # Exact past 64 bits of 10^-8 units on SQLite too, where SUM would overflow.
        "sum_available": AmountSum("available"),
        "sum_pending": AmountSum("pending"),
        "sum_reserved": AmountSum("reserved"),
        "sum_held": AmountSum("held"),
        "service_count": Count("service_id", distinct=True),
    }


def _total(currency: str, row: Mapping[str, Any]) -> CurrencyTotal:
    zero = Decimal(0)
    return CurrencyTotal(
        currency=currency,
        available=row["sum_available"] or zero,
        pending=row["sum_pending"] or zero,
        reserved=row["sum_reserved"] or zero,
        held=row["sum_held"] or zero,
        services=row["service_count"] or 0,
    )


def currency_totals() -> list[CurrencyTotal]:
    """One row per currency with a balance, sorted by code.  Queries: 1."""
    rows = Balance.objects.order_by().values("currency").annotate(**_sums()).order_by("currency")
    return [_total(row["currency"], row) for row in rows]


# --- balances behind a total --------------------------------------------------------------


def balances_across(*, currency: str = "", figure: str = "") -> QuerySet[Balance]:
    """Balances of every service, with their service and connection: in ``currency`` when
    given, and only those where ``figure`` (a key of FIGURES other than available) is not
    zero, i.e. the balances that make up that total."""
    qs = Balance.objects.select_related("service", "service__provider_connection").order_by(
        "currency", "service__name", "service_id"
    )
    if currency:
        qs = qs.filter(currency=currency)
    if figure in ("pending", "reserved", "held"):
        qs = qs.exclude(**{figure: Decimal(0)})
    elif figure == "available_for_payout":
        qs = qs.exclude(available=F("held"))
    return qs


def total_of(balances: QuerySet[Balance], currency: str) -> CurrencyTotal:
    """The sums of ``balances`` (all in ``currency``).  Queries: 1."""
    return _total(currency, balances.order_by().aggregate(**_sums()))


def balance_currencies() -> list[str]:
    """Currencies that have at least one balance.  Queries: 1."""
    return list(Balance.objects.order_by("currency").values_list("currency", flat=True).distinct())


# --- needs attention ----------------------------------------------------------------------

# In the order rows are listed: the worst first.
ISSUES: dict[str, str] = {
    "negative": "Negative balance",
    "payout_negative": "Available for payout below zero",
    "below_threshold": "Under an alert threshold",
    "review": "Waiting for review",
    "connection_paused": "Provider connection paused",
    "connection_failed": "Provider connection failing",
    "stale": "Stale balance",
    "alert": "Open alert",
}
_RANK = {issue: rank for rank, issue in enumerate(ISSUES)}
NO_PROVIDER = "none"


ATTENTION_FILTERS = ("currency", "provider", "country", "status", "issue")


@dataclass(frozen=True)
class AttentionFilters:
    """Empty strings filter nothing.  ``provider`` is a provider kind or ``"none"`` (services
    without a connection); ``status`` is the service's status."""

    currency: str = ""
    provider: str = ""
    country: str = ""
    status: str = ""
    issue: str = ""

    def wants(self, *issues: str) -> bool:
        return not self.issue or self.issue in issues

    def is_empty(self) -> bool:
        return not (self.currency or self.provider or self.country or self.status or self.issue)


@dataclass(frozen=True)
class AttentionRow:
    issue: str
    service_id: str
    service_name: str
    country: str
    service_status: str
    provider: str  # kind, "" without a connection
    currency: str  # "" for a connection row
    amount: Decimal | None  # the figure the row is about, in ``currency``
    detail: str
    since: datetime | None
    alert_id: str = ""

    @property
    def label(self) -> str:
        return ISSUES[self.issue]

    @property
    def provider_label(self) -> str:
        return provider_label(self.provider) if self.provider else ""

    @property
    def sort_key(self) -> tuple[int, str, str, str]:
        return (_RANK[self.issue], self.service_name.casefold(), self.service_id, self.currency)


def _service_scope(filters: AttentionFilters) -> Q:
    """The service filters, for any model with a ``service`` foreign key."""
    q = Q()
    if filters.provider == NO_PROVIDER:
        q &= Q(service__provider_connection__isnull=True)
    elif filters.provider:
        q &= Q(service__provider_connection__kind=filters.provider)
    if filters.country:
        q &= Q(service__country=filters.country)
    if filters.status:
        q &= Q(service__status=filters.status)
    return q


def _connection_of(service: Service) -> ProviderConnection | None:
    return service.provider_connection_or_none


def _row(
    issue: str,
    service: Service,
    *,
    currency: str,
    amount: Decimal | None,
    detail: str,
    since: datetime | None,
    alert_id: str = "",
) -> AttentionRow:
    connection = _connection_of(service)
    return AttentionRow(
        issue=issue,
        service_id=service.public_id,
        service_name=service.name,
        country=service.country,
        service_status=service.status,
        provider=connection.kind if connection else "",
        currency=currency,
        amount=amount,
        detail=detail,
        since=since,
        alert_id=alert_id,
    )


def _shown(amount: Decimal, currency: str) -> str:
    try:
        return f"{currencies.format_amount(amount, currency)} {currency}"
    except currencies.AmountError:
        return f"{amount} {currency}"


def stale_cutoff(now: datetime) -> datetime:
    """Balances not confirmed since this are stale (``Balance.is_stale``)."""
    return now - timedelta(minutes=2 * settings.SYNC_INTERVAL_MINUTES)


def _balance_rows(filters: AttentionFilters, now: datetime) -> list[AttentionRow]:
    """Negative, below zero for payouts, waiting for review, stale.  Queries: 1 (the review
    waiting on a balance is a subquery)."""
    wanted = Q()
    if filters.wants("review"):
        wanted |= Q(review_id__isnull=False)
    if filters.wants("negative"):
        wanted |= Q(available__lt=Decimal(0))
    if filters.wants("payout_negative"):
        wanted |= Q(available__lt=F("held"))
    if filters.wants("stale"):
        cutoff = stale_cutoff(now)
        wanted |= Q(service__provider_connection__isnull=False) & (
            Q(last_synced_at__lt=cutoff) | Q(last_synced_at__isnull=True, created_at__lt=cutoff)
        )
    if not wanted:
        return []
    qs = with_open_review(Balance.objects.all()).filter(_service_scope(filters)).filter(wanted)
    if filters.currency:
        qs = qs.filter(currency=filters.currency)
    rows = []
    for balance in qs.select_related("service", "service__provider_connection"):
        code, service = balance.currency, balance.service
        if filters.wants("negative") and balance.available < 0:
            rows.append(
                _row(
                    "negative",
                    service,
                    currency=code,
                    amount=balance.available,
                    detail=f"Available {_shown(balance.available, code)}.",
                    since=balance.updated_at,
                )
            )
        elif filters.wants("payout_negative") and balance.available_for_payout < 0:
            rows.append(
                _row(
                    "payout_negative",
                    service,
                    currency=code,
                    amount=balance.available_for_payout,
                    detail=f"Available {_shown(balance.available, code)}, on hold for "
                    f"payouts {_shown(balance.held, code)}.",
                    since=balance.updated_at,
                )
            )
        if filters.wants("review") and getattr(balance, "review_id", None):
            rows.append(_review_row(balance))
        if filters.wants("stale") and _connection_of(service) is not None and balance.is_stale(now):
            seen = balance.last_synced_at
            rows.append(
                _row(
                    "stale",
                    service,
                    currency=code,
                    amount=balance.available,
                    detail=(
                        "Never confirmed by a sync."
                        if seen is None
                        else f"Last confirmed by a sync {seen:%Y-%m-%d %H:%M} UTC."
                    ),
                    since=seen or balance.created_at,
                )
            )
    return rows


def _review_row(balance: Balance) -> AttentionRow:
    """A sync held back by a value set by hand (balances/reviews): what the provider says."""
    code = balance.currency
    provider: Decimal = getattr(balance, "review_provider_available", Decimal(0))
    return _row(
        "review",
        balance.service,
        currency=code,
        amount=provider,
        detail=f"Set by hand to {_shown(balance.available, code)} by "
        f"{balance.updated_by_label or 'an operator'}; the provider reports "
        f"{_shown(provider, code)}.",
        since=balance.updated_at,
    )


def _connection_rows(filters: AttentionFilters) -> list[AttentionRow]:
    """Paused connections and connections whose last runs failed.  Queries: 1 (the last
    failed run's error is a subquery)."""
    if not filters.wants("connection_paused", "connection_failed"):
        return []
    last_failed = SyncRun.objects.filter(
        service=OuterRef("service"), status=SyncRun.Status.FAILED
    ).order_by("-created_at", "-id")
    wanted = Q()
    if filters.wants("connection_paused"):
        wanted |= Q(paused_at__isnull=False)
    if filters.wants("connection_failed"):
        wanted |= Q(paused_at__isnull=True, consecutive_failures__gt=0)
    qs = (
        ProviderConnection.objects.filter(_service_scope(filters))
        .filter(wanted)
        .select_related("service")
        .annotate(
            last_error_category=Subquery(last_failed.values("error_category")[:1]),
            last_error_message=Subquery(last_failed.values("error_message")[:1]),
            last_failed_at=Subquery(last_failed.values("finished_at")[:1]),
        )
    )
    if filters.currency:
        # A connection has no currency: it is listed under each currency its service holds.
        qs = qs.filter(service__balances__currency=filters.currency)
    rows = []
    for connection in qs:
        service = connection.service
        service.provider_connection = connection  # already loaded: no query for its kind
        error = ""
        if connection.last_error_message or connection.last_error_category:
            error = " ".join(
                part
                for part in (
                    f"{connection.last_error_category.replace('_', ' ').capitalize()}:"
                    if connection.last_error_category
                    else "",
                    connection.last_error_message[:200],
                )
                if part
            )
        if connection.paused_at is not None:
            rows.append(
                _row(
                    "connection_paused",
                    service,
                    currency="",
                    amount=None,
                    detail=_sentence("Scheduled syncs paused", connection.paused_reason or error),
                    since=connection.paused_at,
                )
            )
        else:
            count = connection.consecutive_failures
            rows.append(
                _row(
                    "connection_failed",
                    service,
                    currency="",
                    amount=None,
                    detail=f"{count} failed sync{'s' if count != 1 else ''} in a row"
                    + (f" — {error}" if error else "."),
                    since=connection.last_failed_at,
                )
            )
    return rows


def _alert_rows(filters: AttentionFilters) -> list[AttentionRow]:
    """Open alerts: of the amount kinds as "under an alert threshold", the others as "open
    alert".  Queries: 1."""
    amount_kinds = [str(k) for k in AMOUNT_KINDS]
    wanted = Q()
    if filters.wants("below_threshold"):
        wanted |= Q(kind__in=amount_kinds)
    if filters.wants("alert"):
        wanted |= ~Q(kind__in=amount_kinds)
    if not wanted:
        return []
    qs = (
        Alert.objects.filter(status=Alert.Status.OPEN)
        .filter(_service_scope(filters))
        .filter(wanted)
        .select_related("service", "service__provider_connection")
    )
    if filters.currency:
        qs = qs.filter(currency=filters.currency)
    rows = []
    for alert in qs:
        code = alert.currency
        is_amount = alert.kind in amount_kinds
        value = _decimal_or_none(alert.opened_value) if is_amount else None
        rows.append(
            _row(
                "below_threshold" if is_amount else "alert",
                alert.service,
                currency=code,
                amount=value,
                detail=_alert_detail(alert, value),
                since=alert.opened_at,
                alert_id=alert.public_id,
            )
        )
    return rows


def _alert_detail(alert: Alert, value: Decimal | None) -> str:
    code, threshold, opened = alert.currency, alert.threshold, alert.opened_value
    if value is not None:
        return f"{alert.get_kind_display()} {threshold} {code}: {_shown(value, code)} when opened."
    if alert.kind == Alert.Kind.STALE:
        return _sentence(
            f"Not confirmed by a sync for over {counted(threshold, 'minute')}"
            if threshold
            else "Stale",
            f"{counted(opened, 'minute')} when opened" if opened else "",
        )
    if alert.kind == Alert.Kind.SYNC_FAILING:
        return _sentence(
            "Synchronisation failing",
            f"{opened} failed runs in a row when opened" if opened else "",
        )
    return _sentence(alert.get_kind_display(), opened)


def _sentence(head: str, tail: str) -> str:
    return f"{head}: {tail}." if tail else f"{head}."


def _decimal_or_none(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (ArithmeticError, ValueError):
        return None
    return value if value.is_finite() else None


def attention_rows(
    *, filters: AttentionFilters | None = None, include_alerts: bool = True
) -> list[AttentionRow]:
    """Everything that needs someone, worst first, then by service and currency.
    Queries: 3 (balances, connections, alerts), 2 without ``include_alerts`` (for users who
    may not see alerts); fewer when ``filters.issue`` leaves some out."""
    chosen = filters or AttentionFilters()
    now = timezone.now()
    rows = [*_balance_rows(chosen, now), *_connection_rows(chosen)]
    if include_alerts:
        rows += _alert_rows(chosen)
    return sorted(rows, key=lambda row: row.sort_key)


def issue_counts(rows: Iterable[AttentionRow]) -> dict[str, int]:
    counts = dict.fromkeys(ISSUES, 0)
    for row in rows:
        counts[row.issue] += 1
    return counts


def service_countries() -> list[str]:
    """Countries of the services, for the filter.  Queries: 1."""
    return list(Service.objects.order_by("country").values_list("country", flat=True).distinct())


# --- sync runs across services ------------------------------------------------------------


def sync_runs_across(
    *,
    status: str = "",
    provider: str = "",
    trigger: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[SyncRun]:
    """Every service's runs, newest first, with the service and requester joined; the days
    are inclusive and in the site's time zone (UTC)."""
    return sync_runs_filtered(
        status=status, provider=provider, trigger=trigger, date_from=date_from, date_to=date_to
    ).select_related("service", "requested_by")


# --- payouts waiting on someone -----------------------------------------------------------


def payouts_waiting(*, currency: str = "", service: str = "") -> QuerySet[Payout]:
    """Pending and processing payouts of every service, oldest first, with the service
    joined; ``service`` is a service id (srv_…)."""
    qs = (
        Payout.objects.filter(status__in=Payout.OPEN)
        .select_related("service")
        .order_by("created_at", "id")
    )
    if currency:
        qs = qs.filter(currency=currency)
    if service:
        qs = qs.filter(service__public_id=service)
    return qs


def payout_filter_choices() -> tuple[list[str], list[tuple[str, str]]]:
    """(currencies, [(service id, name)]) of the payouts waiting, for the filters.
    Queries: 2."""
    open_payouts = Payout.objects.filter(status__in=Payout.OPEN)
    codes = list(open_payouts.order_by("currency").values_list("currency", flat=True).distinct())
    services = list(
        Service.objects.filter(pk__in=open_payouts.values("service_id"))
        .order_by("name", "id")
        .values_list("public_id", "name")
    )
    return codes, services
