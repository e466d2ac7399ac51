"""The debit of a paid payout: the only balance write that payouts make."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from balances.actions.balance import lock_balance, record_available_change
from balances.models import Balance, BalanceChange
from core.actors import Actor
from services.models import Service


@transaction.atomic
def balance_debit_for_payout(
    *, service: Service, currency: str, amount: Decimal, payout_public_id: str
) -> Balance:
    """Take ``amount`` (the payout's amount + fee) off the available figure, with a history
    entry whose actor is the payout.  The result may go below zero: the money has left at
    the provider, and a later sync overwrites the figure with the provider's anyway."""
    balance = lock_balance(service, currency)
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
    record_available_change(
        service=service,
        balance=balance,
        kind=BalanceChange.Kind.PAYOUT,
        old_available=old_available,
        reason=f"Payout {payout_public_id} paid",
        actor=actor,
        now=now,
    )
    return balance
