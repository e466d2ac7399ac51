"""Reads of payouts: holds (used by balance cards, balance deletion and payout creation) and
the lists of the pages and the API."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, QuerySet, Sum

from balances.models import Balance
from payouts.models import Payout
from services.fees import formula as fees
from services.models import FeeRule, Service


def open_payout_count(*, service_id: int, currency: str) -> int:
    return Payout.objects.filter(
        service_id=service_id, currency=currency, status__in=Payout.OPEN
    ).count()


def holds_by_currency(*, service_id: int) -> dict[str, Decimal]:
    """Amount + fee held by the service's payouts that have not ended, per currency
    (one query)."""
    rows = (
        Payout.objects.filter(service_id=service_id, status__in=Payout.OPEN)
        .values("currency")
        .annotate(held=Sum(F("amount") + F("fee")))
    )
    return {row["currency"]: row["held"] or Decimal(0) for row in rows}


def hold_for(*, service_id: int, currency: str) -> Decimal:
    """Amount + fee held by the service's open payouts in ``currency`` (one query, served by
    the partial index ``payout_open_idx``)."""
    held = Payout.objects.filter(
        service_id=service_id, currency=currency, status__in=Payout.OPEN
    ).aggregate(held=Sum(F("amount") + F("fee")))["held"]
    return held or Decimal(0)


def payouts_for_service(
    *, service_id: int, status: str = "", currency: str = ""
) -> QuerySet[Payout]:
    """Newest first; ``status`` and ``currency`` filter when given."""
    qs = Payout.objects.filter(service_id=service_id).order_by("-created_at", "-id")
    if status:
        qs = qs.filter(status=status)
    if currency:
        qs = qs.filter(currency=currency)
    return qs


def payout_currencies(*, service_id: int) -> list[str]:
    """Currencies the service has paid out in (for the filter)."""
    return list(
        Payout.objects.filter(service_id=service_id)
        .order_by("currency")
        .values_list("currency", flat=True)
        .distinct()
    )


def payout_by_public_id(public_id: str, *, service_id: int | None = None) -> Payout | None:
    qs = Payout.objects.select_related("service")
    if service_id is not None:
        qs = qs.filter(service_id=service_id)
    return qs.filter(public_id=public_id).first()


def payout_with_events(payout: Payout) -> list:
    return list(payout.events.select_related("actor_user").order_by("created_at", "id"))


@dataclass(frozen=True)
class PayoutPreview:
    """What New payout shows before saving: the fee and total, and whether the funds and the
    minimum allow it right now (payout_create checks again under the balance lock)."""

    currency: str
    amount: Decimal
    fee: Decimal
    minimum: Decimal
    available: Decimal
    on_hold: Decimal
    fee_source: str

    @property
    def total(self) -> Decimal:
        return self.amount + self.fee

    @property
    def available_for_payout(self) -> Decimal:
        return self.available - self.on_hold

    @property
    def below_minimum(self) -> bool:
        return self.amount < self.minimum

    @property
    def insufficient(self) -> bool:
        return self.total > self.available_for_payout

    @property
    def ok(self) -> bool:
        return self.amount > 0 and not self.below_minimum and not self.insufficient


def payout_preview(*, service: Service, currency: str, amount: Decimal) -> PayoutPreview | None:
    """None when the service has no balance in ``currency``."""
    balance = Balance.objects.filter(service=service, currency=currency).first()
    if balance is None:
        return None
    quote = fees.quote(
        profile=service.fee_profile,
        operation=FeeRule.Operation.PAYOUT,
        currency=currency,
        amount=amount,
    )
    return PayoutPreview(
        currency=currency,
        amount=amount,
        fee=quote.fee,
        minimum=quote.minimum_payout,
        available=balance.available,
        on_hold=hold_for(service_id=service.pk, currency=currency),
        fee_source=quote.source,
    )
