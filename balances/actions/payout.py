"""What payouts do to a balance: hold, debit and release.  The only balance writes that payouts
make, each called by a payout action inside its transaction.

``Balance.held`` is the amount + fee of the payouts that have not ended.  It moves only here,
always under the balance row lock, so ``available - held`` read from the locked row is what a
new payout may take, without reading payouts:

* created: hold amount + fee (``balance_hold_for_payout``);
* paid: debit available by amount + fee and release the hold, in one UPDATE, with a history
  entry whose actor is the payout (``balance_debit_for_payout``);
* failed or canceled: release the hold (``balance_release_for_payout``).

Holds do not move ``version``: it guards the figures operators and syncs write, and a payout
created meanwhile must not make their edit stale.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from balances.actions.balance import lock_balance, record_available_change
from balances.models import Balance, BalanceChange
from core.actors import Actor
from core.errors import Unprocessable
from core.money import currencies
from services.models import Service


# No savepoint of their own: called inside the payout's transaction, a failure here fails the
# whole payout action, so a savepoint would only add two round trips under the row lock.
@transaction.atomic(savepoint=False)
def balance_hold_for_payout(*, balance: Balance, amount: Decimal) -> Balance:
    """Hold ``amount`` (a new payout's amount + fee) on ``balance``, which the caller locked
    to check the funds (``payout_create``).  The UPDATE repeats that check in the database:
    a hold never takes more than is available for payout."""
    updated = Balance.objects.filter(pk=balance.pk, available__gte=F("held") + amount).update(
        held=F("held") + amount
    )
    if updated != 1:
        raise Unprocessable(
            f"Insufficient funds: {currencies.format_amount(amount, balance.currency)} "
            f"{balance.currency} cannot be held on this balance.",
            field="amount",
            code="insufficient_funds",
        )
    # Exact: nobody else writes ``held`` while the caller holds the row lock.
    balance.held += amount
    return balance


@transaction.atomic(savepoint=False)
def balance_debit_for_payout(
    *, service: Service, currency: str, amount: Decimal, payout_public_id: str
) -> Balance:
    """Take ``amount`` (the payout's amount + fee) off the available figure and release the
    hold it had, with a history entry whose actor is the payout: available for payout does
    not change.  Available may go below zero: the money has left at the provider, and a
    later sync overwrites the figure with the provider's anyway."""
    balance = lock_balance(service, currency)
    actor = Actor.for_payout(payout_public_id)
    now = timezone.now()
    old_available = balance.available
    Balance.objects.filter(pk=balance.pk).update(
        available=F("available") - amount,
        held=F("held") - amount,
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


def balance_release_for_payout(*, service: Service, currency: str, amount: Decimal) -> None:
    """Release the hold of a payout that failed or was canceled: available does not change,
    so no history entry.  One UPDATE, which takes the row lock itself and computes from the
    row as it is once the lock is granted.  Nothing to release when the balance is gone (only
    possible for data older than holds: a balance with holds cannot be deleted)."""
    # held >= 0 is a database constraint: releasing more than was held is refused.
    Balance.objects.filter(service=service, currency=currency).update(held=F("held") - amount)
