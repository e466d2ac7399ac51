"""Manual balance writes: create, update, delete."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from balances import events
from balances.models import Balance, BalanceChange
from core.actors import Actor
from core.errors import (
    AlreadyExists,
    Conflict,
    NotAllowed,
    NotFound,
    StaleVersion,
    ValidationFailed,
)
from core.money import currencies
from services.models import Service

REASON_MAX_LENGTH = 500


def _reason(raw: str | None, *, required: bool) -> str:
    reason = (raw or "").strip()
    if required and not reason:
        raise ValidationFailed("Give a reason for the change.", field="reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationFailed(
            f"Keep the reason under {REASON_MAX_LENGTH} characters.", field="reason"
        )
    return reason


def lock_balance(service: Service, currency: str) -> Balance:
    """The service's ``currency`` balance, locked until the transaction ends."""
    try:
        return Balance.objects.select_for_update().get(service=service, currency=currency)
    except Balance.DoesNotExist:
        raise NotFound(
            f"{service.public_id} has no {currency} balance.", field="currency"
        ) from None


def _check_version(balance: Balance, expected_version: int | None) -> None:
    if expected_version is not None and balance.version != expected_version:
        shown = currencies.format_amount(balance.available, balance.currency)
        raise StaleVersion(
            f"This balance was changed by {balance.updated_by_label or 'someone else'} "
            f"after you opened it; it is now {shown} {balance.currency}. "
            "Nothing was overwritten: review the current value and save again.",
            current=balance,
            details={
                "currentVersion": balance.version,
                "currentAmount": currencies.plain_amount(balance.available, balance.currency),
            },
        )


@transaction.atomic
def balance_create(
    *,
    service: Service,
    currency: str,
    amount: object = Decimal(0),
    actor: Actor,
    reason: str = "",
) -> Balance:
    code = currencies.clean_code(currency)
    value = currencies.clean_amount(Decimal(0) if amount in (None, "") else amount, code)
    note = _reason(reason, required=False)
    now = timezone.now()
    try:
        with transaction.atomic():
            balance = Balance.objects.create(
                service=service,
                currency=code,
                available=value,
                updated_at=now,
                updated_by_type=actor.type,
                updated_by_label=actor.label,
            )
    except IntegrityError:
        raise AlreadyExists(
            f"{service.public_id} already has a {code} balance.", field="currency"
        ) from None
    BalanceChange.objects.create(
        service=service,
        balance=balance,
        currency=code,
        kind=BalanceChange.Kind.CREATED,
        new_available=value,
        new_pending=Decimal(0),
        new_reserved=Decimal(0),
        version=balance.version,
        reason=note,
        created_at=now,
        **actor.history_fields(),
    )
    events.balance_changed(
        service_id=service.pk,
        service_public_id=service.public_id,
        currency=code,
        kind=BalanceChange.Kind.CREATED,
        before=None,
        after=events.figures_of(balance),
        actor_label=actor.label,
        at=now,
    )
    return balance


def _check_holds(balance: Balance, value: Decimal) -> None:
    """An operator may not set a balance below what open payouts hold on it (read from the
    locked row): "available for payout" would go negative, and paying them would leave the
    balance short.  A sync may (the provider is the truth); its run says so.  Without holds,
    any amount goes, negative ones too (a debt at the provider)."""
    if balance.held > 0 and value < balance.held:
        shown = currencies.format_amount(balance.held, balance.currency)
        raise Conflict(
            f"Open payouts hold {shown} {balance.currency} of this balance; it cannot be set "
            "below that.",
            field="amount",
            code="below_holds",
            details={"held": Decimal(currencies.plain_amount(balance.held, balance.currency))},
        )


@transaction.atomic
def balance_update(
    *,
    service: Service,
    currency: str,
    amount: object,
    expected_version: int | None,
    actor: Actor,
    reason: str,
) -> Balance:
    """Set the available amount.  ``expected_version`` is the version the caller saw; a
    mismatch raises ``StaleVersion`` and changes nothing.  The conditional UPDATE repeats the
    check inside the database."""
    code = currencies.clean_code(currency)
    value = currencies.clean_amount(amount, code)
    note = _reason(reason, required=True)
    balance = lock_balance(service, code)
    _check_version(balance, expected_version)
    if balance.available == value:
        return balance
    _check_holds(balance, value)
    now = timezone.now()
    old_available = balance.available
    updated = Balance.objects.filter(pk=balance.pk, version=balance.version).update(
        available=value,
        version=F("version") + 1,
        updated_at=now,
        updated_by_type=actor.type,
        updated_by_label=actor.label,
    )
    if updated != 1:  # pragma: no cover - the row lock makes this unreachable on PostgreSQL
        balance.refresh_from_db()
        _check_version(balance, expected_version)
    balance.refresh_from_db()
    record_available_change(
        service=service,
        balance=balance,
        kind=BalanceChange.Kind.UPDATED,
        old_available=old_available,
        reason=note,
        actor=actor,
        now=now,
    )
    events.balance_changed(
        service_id=service.pk,
        service_public_id=service.public_id,
        currency=code,
        kind=BalanceChange.Kind.UPDATED,
        before=events.figures(
            available=old_available,
            pending=balance.pending,
            reserved=balance.reserved,
            held=balance.held,
        ),
        after=events.figures_of(balance),
        actor_label=actor.label,
        at=now,
    )
    return balance


def record_available_change(
    *,
    service: Service,
    balance: Balance,
    kind: str,
    old_available: Decimal,
    reason: str,
    actor: Actor,
    now: datetime,
) -> BalanceChange:
    """The history entry of a write that changed only the available figure; ``balance`` is
    as it is after the write."""
    return BalanceChange.objects.create(
        service=service,
        balance=balance,
        currency=balance.currency,
        kind=kind,
        old_available=old_available,
        new_available=balance.available,
        old_pending=balance.pending,
        new_pending=balance.pending,
        old_reserved=balance.reserved,
        new_reserved=balance.reserved,
        version=balance.version,
        reason=reason,
        created_at=now,
        **actor.history_fields(),
    )


def deletion_blockers(balance: Balance) -> list[str]:
    """Why ``balance`` cannot be deleted now (empty when it can)."""
    blockers = []
    if balance.pending:
        shown = currencies.format_amount(balance.pending, balance.currency)
        blockers.append(f"it has {shown} {balance.currency} pending")
    if balance.reserved:
        shown = currencies.format_amount(balance.reserved, balance.currency)
        blockers.append(f"it has {shown} {balance.currency} reserved")
    if balance.held:
        shown = currencies.format_amount(balance.held, balance.currency)
        blockers.append(f"open payouts hold {shown} {balance.currency} of it")
    return blockers


@transaction.atomic
def balance_delete(
    *,
    service: Service,
    currency: str,
    actor: Actor,
    expected_version: int | None = None,
    reason: str = "",
) -> None:
    code = currencies.clean_code(currency)
    note = _reason(reason, required=False)
    balance = lock_balance(service, code)
    _check_version(balance, expected_version)
    blockers = deletion_blockers(balance)
    if blockers:
        raise NotAllowed(
            f"The {code} balance cannot be deleted: {'; '.join(blockers)}.",
            details={"reasons": blockers},
            code="not_deletable",
        )
    BalanceChange.objects.create(
        service=service,
        balance=None,
        currency=code,
        kind=BalanceChange.Kind.DELETED,
        old_available=balance.available,
        old_pending=balance.pending,
        old_reserved=balance.reserved,
        version=balance.version,
        reason=note,
        created_at=timezone.now(),
        **actor.history_fields(),
    )
    balance.delete()
    events.balance_changed(
        service_id=service.pk,
        service_public_id=service.public_id,
        currency=code,
        kind=BalanceChange.Kind.DELETED,
        before=events.figures_of(balance),
        after=None,
        actor_label=actor.label,
        at=timezone.now(),
    )
