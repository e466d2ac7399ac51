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

from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from approvals.models import ApprovalPolicy
from approvals.policy import RULE_COLUMNS, rules_returning_sql
from balances import events
from balances.actions.balance import lock_balance, record_available_change
from balances.models import Balance, BalanceChange
from core import rawsql
from core.actors import Actor
from core.errors import Unprocessable
from core.money import currencies
from core.money.dbfields import amount_value, to_units
from services.models import Service


# No savepoint of their own: called inside the payout's transaction, a failure here fails the
# whole payout action, so a savepoint would only add two round trips under the row lock.
@transaction.atomic(savepoint=False)
def balance_hold_for_payout(*, balance: Balance, amount: Decimal) -> Balance:
    """Hold ``amount`` (a new payout's amount + fee) on ``balance``, which the caller locked
    to check the funds (``payout_create``).  The UPDATE repeats that check in the database:
    a hold never takes more than is available for payout."""
    # held + amount beyond what storage keeps cannot be covered by an available figure that
    # storage keeps either: refused here, before the database computes it.
    updated = 0
    if balance.held + amount <= currencies.MAX_ABS_AMOUNT:
        value = amount_value(amount)
        updated = Balance.objects.filter(pk=balance.pk, available__gte=F("held") + value).update(
            held=F("held") + value
        )
    if updated != 1:
        raise Unprocessable(
            f"Insufficient funds: {currencies.format_amount(amount, balance.currency)} "
            f"{balance.currency} cannot be held on this balance.",
            field="amount",
            code="insufficient_funds",
        )
    # Exact: nobody else writes ``held`` while the caller holds the row lock.
    before = events.figures_of(balance)
    balance.held += amount
    _announce_hold(balance, before=before, after=events.figures_of(balance))
    return balance


_COLUMNS = tuple(field.attname for field in Balance._meta.concrete_fields)


@cache
def _hold_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    table, held, available = q(Balance._meta.db_table), q("held"), q("available")
    currency = f"{table}.{q('currency')}"
    returned = ", ".join(f"{table}.{q(rawsql.column(Balance, n))}" for n in _COLUMNS)
    # CASE: "available - held" is only computed where it cannot leave 64 bits, and where
    # the hold fits, held + amount <= available cannot either.  Identifiers come from the
    # models, quoted; every value is a parameter.
    return (
        f"UPDATE {table} SET {held} = {held} + %s "  # noqa: S608
        f"WHERE {q('service_id')} = %s AND {currency} = %s "
        f"AND CASE WHEN {available} >= {held} THEN {available} - {held} >= %s ELSE FALSE END "
        f"RETURNING {returned}, {rules_returning_sql(currency)}"
    )


@transaction.atomic(savepoint=False)
def balance_hold_for_new_payout(
    *, service: Service, currency: str, amount: Decimal
) -> Balance | None:
    """Hold ``amount`` (a new payout's amount + fee) on the service's ``currency`` balance
    in ONE statement, which takes the row lock, checks the funds and returns the row as it
    is now, with the currency's approval rules (``approvals.policy.rules_from_raw``).

    None when nothing was held: no such balance, or not enough available for payout; the
    caller then locks the row to say which (``balance_hold_for_payout`` holds on a locked
    row).  Every payout on a balance queues for its row lock, so this statement is the
    start of the critical section: the caller does everything else it can before it."""
    if not 0 < amount <= currencies.MAX_ABS_AMOUNT:
        return None
    units = to_units(amount)
    # Hand-written (core.rawsql): this runs under the lock, for every payout on the balance.
    rows = rawsql.fetch(_hold_sql(connection.vendor), [units, service.pk, currency, units])
    if not rows:
        return None
    row = rows[0]
    balance = _held_row(service=service, row=row, amount=amount)
    for name, value in zip(RULE_COLUMNS, row[len(_COLUMNS) :], strict=True):
        setattr(balance, name, value)  # raw, for rules_from_raw
    return balance


def _held_row(*, service: Service, row: Sequence[Any], amount: Decimal) -> Balance:
    """The balance a hold's ``UPDATE ... RETURNING`` left (``row``: the balance's columns
    first), announced like every hold."""
    values = rawsql.convert(Balance, _COLUMNS, row[: len(_COLUMNS)])
    balance = rawsql.instance(Balance, values.pop("id"), values)
    balance.service = service  # the hold's event names it: no query for it
    after = events.figures_of(balance)
    before = events.figures(
        available=after.available,
        pending=after.pending,
        reserved=after.reserved,
        held=after.held - amount,
    )
    _announce_hold(balance, before=before, after=after)
    return balance


# --- the hold as part of a payout's one statement (PostgreSQL) -----------------------------


@cache
def _quiet_hold_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    table, held, available = q(Balance._meta.db_table), q("held"), q("available")
    policy = q(ApprovalPolicy._meta.db_table)
    returned = ", ".join(q(rawsql.column(Balance, n)) for n in _COLUMNS)
    # As _hold_sql, and only on a balance no rule above watches, under an approval policy
    # that still lets the payout through without approval (the platform default's answer
    # when the currency has no policy).  Identifiers from the models; values are parameters.
    return (
        f"UPDATE {table} SET {held} = {held} + %s "  # noqa: S608
        f"WHERE {q('service_id')} = %s AND {q('currency')} = %s "
        f"AND CASE WHEN {available} >= {held} THEN {available} - {held} >= %s ELSE FALSE END "
        f"AND NOT {q('watched')} "
        f"AND COALESCE((SELECT p.{q('payout_above')} IS NULL OR p.{q('payout_above')} >= %s "
        f"FROM {policy} p WHERE p.{q('currency')} = %s), %s) "
        f"RETURNING {returned}"
    )


def quiet_hold_sql(
    *, service: Service, currency: str, amount: Decimal, payout_amount: Decimal, default_ok: bool
) -> tuple[str, list[Any]] | None:
    """The hold of a new payout's ``amount`` (amount + fee) as an ``UPDATE ... RETURNING``
    for the payout's single statement (payouts.creation, PostgreSQL's data-modifying
    ``WITH``): it holds, and returns the row, only when the funds suffice, no rule above
    watches the balance (``Balance.watched``: nothing to evaluate in a transaction) and a
    payout of ``payout_amount`` needs no approval under the currency's policy as the
    statement sees it (``default_ok`` when the currency has none).  Otherwise it returns no
    row and changes nothing, and the caller takes the transactional path.  Read the row
    with :func:`quiet_hold_done`.  None when the amount cannot be held at all."""
    if not 0 < amount <= currencies.MAX_ABS_AMOUNT:
        return None
    units = to_units(amount)
    params = [units, service.pk, currency, units, to_units(payout_amount), currency, default_ok]
    return _quiet_hold_sql(connection.vendor), params


def quiet_hold_done(*, service: Service, row: Sequence[Any], amount: Decimal) -> Balance:
    """The balance as the hold of :func:`quiet_hold_sql` left it (``row``: its RETURNING
    columns first), announced like every hold; the caller's statement has committed."""
    return _held_row(service=service, row=row, amount=amount)


QUIET_HOLD_COLUMNS = len(_COLUMNS)


def _announce_hold(balance: Balance, *, before: events.Figures, after: events.Figures) -> None:
    """A hold moved: only "available for payout" changed, so no history entry, but the apps
    above (alerts on what is available for payout) hear of it."""
    events.balance_changed(
        service_id=balance.service_id,
        service_public_id=balance.service.public_id,
        currency=balance.currency,
        kind="hold",
        before=before,
        after=after,
        actor_label="",
        at=timezone.now(),
        watched=balance.watched,  # read with the row, under its lock
    )


@transaction.atomic(savepoint=False)
def balance_debit_for_payout(
    *, service: Service, currency: str, amount: Decimal, payout_public_id: str
) -> Balance:
    """Take ``amount`` (the payout's amount + fee) off the available figure and release the
    hold it had, with a history entry whose actor is the payout: available for payout does
    not change.  Available may go below zero: the money has left at the provider, and a
    later sync overwrites the figure with the provider's anyway."""
    balance = lock_balance(service, currency)
    if balance.available - amount < -currencies.MAX_ABS_AMOUNT:
        raise Unprocessable(
            f"Cannot debit {currencies.format_amount(amount, currency)} {currency}: the "
            f"available figure ({currencies.format_amount(balance.available, currency)}) "
            "would go below the lowest amount storage keeps "
            f"(-{currencies.format_amount(currencies.MAX_ABS_AMOUNT, currency)}).  Correct "
            "the balance first.",
            field="amount",
            code="amount_out_of_range",
        )
    actor = Actor.for_payout(payout_public_id)
    now = timezone.now()
    old_available = balance.available
    value = amount_value(amount)
    Balance.objects.filter(pk=balance.pk).update(
        available=F("available") - value,
        held=F("held") - value,
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
    events.balance_changed(
        service_id=service.pk,
        service_public_id=service.public_id,
        currency=currency,
        kind=BalanceChange.Kind.PAYOUT,
        before=events.figures(
            available=old_available,
            pending=balance.pending,
            reserved=balance.reserved,
            held=balance.held + amount,
        ),
        after=events.figures_of(balance),
        actor_label=actor.label,
        at=now,
        watched=balance.watched,
    )
    return balance


def balance_release_for_payout(*, service: Service, currency: str, amount: Decimal) -> None:
    """Release the hold of a payout that failed or was canceled: available does not change,
    so no history entry.  One UPDATE, which takes the row lock itself and computes from the
    row as it is once the lock is granted.  Nothing to release when the balance is gone (only
    possible for data older than holds: a balance with holds cannot be deleted)."""
    # held >= 0 is a database constraint: releasing more than was held is refused.
    released = Balance.objects.filter(service=service, currency=currency).update(
        held=F("held") - amount_value(amount)
    )
    if released:
        # Read under the lock the UPDATE took, for the apps above (alerts on "available for
        # payout" may resolve).
        balance = Balance.objects.get(service=service, currency=currency)
        balance.service = service
        after = events.figures_of(balance)
        before = events.figures(
            available=after.available,
            pending=after.pending,
            reserved=after.reserved,
            held=after.held + amount,
        )
        _announce_hold(balance, before=before, after=after)
