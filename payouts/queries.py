from __future__ import annotations

from decimal import Decimal

from django.db.models import F, Sum

from payouts.models import Payout


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
