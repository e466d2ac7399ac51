"""Reads of balances, tuned: a fixed number of queries whatever the number of balances."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from balances.models import Balance, BalanceChange, SyncRun
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
    def below_holds(self) -> bool:
        """Open payouts hold more than is available (a sync reported less): marked on the
        card, for an operator to act."""
        return self.balance.held > 0 and self.balance.available < self.balance.held


def balances_for_service(service: Service) -> list[Balance]:
    return list(Balance.objects.filter(service=service).order_by("currency"))


def last_sync_run(service: Service) -> SyncRun | None:
    return SyncRun.objects.filter(service=service).order_by("-created_at", "-id").first()


def balance_cards(service: Service, *, flag_stale: bool = False) -> list[BalanceCard]:
    """The service's balances with what payouts hold on them (a column of the row).  Queries:
    the balances.  ``flag_stale`` for a service whose balances come from a provider."""
    balances = balances_for_service(service)
    now = timezone.now()
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
