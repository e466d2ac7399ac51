"""Reads of payouts: the lists of the pages and the API, and the preview of a new payout.
What open payouts hold is a column of the balance row (``Balance.held``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from approvals.policy import rules_from, with_rules
from balances.models import Balance
from core.errors import NotFound
from payouts.models import Payout
from services.fees import formula as fees
from services.models import FeeRule, Service


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


def payout_get(public_id: str, *, service_id: int | None = None) -> Payout:
    """The payout (with its service), for pages and API alike; ``NotFound`` otherwise."""
    qs = Payout.objects.select_related("service")
    if service_id is not None:
        qs = qs.filter(service_id=service_id)
    payout = qs.filter(public_id=public_id).first()
    if payout is None:
        raise NotFound(f"There is no payout {public_id}.")
    return payout


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
    # The currency's payout approval limit in force (None: no payout needs approval).
    approval_above: Decimal | None = None

    @property
    def total(self) -> Decimal:
        return self.amount + self.fee

    @property
    def needs_approval(self) -> bool:
        """Above the approval limit: the payout will wait for a second person (its total
        held meanwhile); payout_create decides again with the rules read under the lock."""
        return self.approval_above is not None and self.amount > self.approval_above

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
    """None when the service has no balance in ``currency``.  The balance and the currency's
    approval rules in one query, then the fee quote."""
    balance = with_rules(Balance.objects.filter(service=service, currency=currency)).first()
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
        on_hold=balance.held,
        fee_source=quote.source,
        approval_above=rules_from(balance).payout_above,
    )
