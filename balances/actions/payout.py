"""The debit of a paid payout: the only balance write that payouts make."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from balances.actors import Actor
from balances.errors import NotFound
from balances.models import Balance, BalanceChange
from services.models import Service


@transaction.atomic
def balance_debit_for_payout(
    *, service: Service, currency: str, amount: Decimal, payout_public_id: str
) -> Balance:
    """Take ``amount`` (the payout's amount + fee) off the available figure, with a history
    entry whose actor is the payout.  The result may go below zero: the money has left at
    the provider, and a later sync overwrites the figure with the provider's anyway."""
    try:
        balance = Balance.objects.select_for_update().get(service=service, currency=currency)
    except Balance.DoesNotExist:
        raise NotFound(
            f"{service.public_id} has no {currency} balance.", field="currency"
        ) from None
    actor = Actor.for_payout(payout_public_id)
    now = timezone.now()
    old_available = balance.available
    Balance.objects.filter(pk=balance.pk).update(
        available=F("available") - amount,
        version=F("version") + 1,
        updated_at=now,
        updated_by_type=actor.type,
        updated_by_label=actor.label,
    )
    balance.refresh_from_db()
    BalanceChange.objects.create(
        service=service,
        balance=balance,
        currency=currency,
        kind=BalanceChange.Kind.PAYOUT,
        old_available=old_available,
        new_available=balance.available,
        old_pending=balance.pending,
        new_pending=balance.pending,
        old_reserved=balance.reserved,
        new_reserved=balance.reserved,
        version=balance.version,
        reason=f"Payout {payout_public_id} paid",
        created_at=now,
        **actor.history_fields(),
    )
    return balance
