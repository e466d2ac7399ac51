"""Reads of balances, tuned: a fixed number of queries whatever the number of balances."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from balances import currencies
from balances.models import Balance, BalanceChange, SyncRun
from payouts.queries import holds_by_currency
from services.models import ProviderConnection, Service


@dataclass(frozen=True)
class BalanceCard:
    balance: Balance
    info: currencies.CurrencyInfo
    on_hold: Decimal
    stale: bool

    @property
    def available_for_payout(self) -> Decimal:
        return self.balance.available - self.on_hold


def balances_for_service(service: Service) -> list[Balance]:
    return list(Balance.objects.filter(service=service).order_by("currency"))


def balances_page_context(service: Service) -> dict[str, Any]:
    """Queries: the balances, the payout holds, the last two sync runs (and the connection,
    already joined by ``service_by_public_id``)."""
    balances = balances_for_service(service)
    holds = holds_by_currency(service_id=service.pk) if balances else {}
    connection: ProviderConnection | None = getattr(service, "provider_connection", None)
    runs = list(SyncRun.objects.filter(service=service).order_by("-created_at", "-id")[:1])
    last_run = runs[0] if runs else None
    now = timezone.now()
    cards = [
        BalanceCard(
            balance=b,
            info=currencies.get(b.currency),
            on_hold=holds.get(b.currency, Decimal(0)),
            stale=connection is not None and b.is_stale(now),
        )
        for b in balances
    ]
    return {
        "cards": cards,
        "connection": connection,
        "last_run": last_run,
        "active_run": last_run if last_run and last_run.is_active else None,
    }


def history(*, service: Service, currency: str | None = None) -> QuerySet[BalanceChange]:
    qs = BalanceChange.objects.filter(service=service).select_related("sync_run")
    if currency:
        qs = qs.filter(currency=currency)
    return qs.order_by("-created_at", "-id")
