"""Manual balance writes: create, update, delete."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from approvals import actions as approval_actions
from approvals.models import ApprovalRequest
from approvals.policy import rules_from, with_rules
from balances import events
from balances.audit import audit_balance_change
from balances.models import Balance, BalanceChange, BalanceReview
from balances.reviews.clearing import reviews_clear
from core.actors import Actor, ActorType
from core.errors import (
    AlreadyExists,
    Conflict,
    NotAllowed,
    NotFound,
    StaleVersion,
    ValidationFailed,
)
from core.money import currencies
from core.plain import actor_text
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


class ApprovalRequired(NotAllowed):
    """The change needs a second person (the currency's approval policy): nothing was
    written.  Pages and the API call the ``…_or_request`` actions, which ask instead."""

    code = "approval_required"


# An approved change: (the request, the approver); its history entry names both.
Approved = tuple[ApprovalRequest, Actor]


def _approval_fields(approved: Approved | None) -> dict[str, object]:
    if approved is None:
        return {}
    request, approver = approved
    return {
        "approved_by_label": approver.label[:150],
        "approved_by_user": approver.user,
        "approval_public_id": request.public_id,
    }


def lock_balance(service: Service, currency: str, *, with_approval_rules: bool = False) -> Balance:
    """The service's ``currency`` balance, locked until the transaction ends; with the
    currency's approval rules read in the same statement when asked (approvals.policy)."""
    qs = Balance.objects.select_for_update()
    if with_approval_rules:
        qs = with_rules(qs)
    try:
        return qs.get(service=service, currency=currency)
    except Balance.DoesNotExist:
        raise NotFound(
            f"{service.public_id} has no {currency} balance.", field="currency"
        ) from None


def _check_version(balance: Balance, expected_version: int | None) -> None:
    if expected_version is not None and balance.version != expected_version:
        shown = currencies.format_amount(balance.available, balance.currency)
        raise StaleVersion(
            f"This balance was changed by {actor_text(balance.updated_by_label) or 'someone else'} "
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
    """A new balance with ``amount`` available.  An opening amount the currency's approval
    policy holds for a second person (a person's change above ``manual_change_above``,
    from zero) raises ``ApprovalRequired`` and creates nothing (see
    :func:`balance_create_or_request`)."""
    balance, approval = _create(
        service=service, currency=currency, amount=amount, actor=actor, reason=reason, ask=False
    )
    assert approval is None
    return balance


@transaction.atomic
def balance_create_or_request(
    *,
    service: Service,
    currency: str,
    amount: object = Decimal(0),
    actor: Actor,
    reason: str = "",
) -> tuple[Balance, ApprovalRequest | None]:
    """:func:`balance_create` for the pages and the API: an opening amount that needs
    approval is not applied; the balance is created at zero and the amount becomes a
    pending ``ApprovalRequest`` against it (returned too), which approving applies like
    any held-back change."""
    return _create(
        service=service, currency=currency, amount=amount, actor=actor, reason=reason, ask=True
    )


def _create(
    *,
    service: Service,
    currency: str,
    amount: object,
    actor: Actor,
    reason: str,
    ask: bool,
) -> tuple[Balance, ApprovalRequest | None]:
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
    approval = None
    if actor.type == ActorType.USER and value != 0:
        # The rules read with the new row, as an edit reads them with the row it changes.
        rules = rules_from(lock_balance(service, code, with_approval_rules=True))
        if rules.manual_change_needs_approval(Decimal(0), value):
            Balance.objects.filter(pk=balance.pk).update(available=Decimal(0))
            balance.available = Decimal(0)
            approval = _hold_back(
                ApprovalRequest.Kind.BALANCE_UPDATE,
                service,
                balance,
                ask=ask,
                refusal=f"An opening amount of the {code} balance above the approval limit "
                "needs a second person's approval.",
                field="amount",
                actor=actor,
                reason=note or "Opening amount",
                proposed_value=value,
            )
    created = BalanceChange.objects.create(
        service=service,
        balance=balance,
        currency=code,
        kind=BalanceChange.Kind.CREATED,
        new_available=balance.available,
        new_pending=Decimal(0),
        new_reserved=Decimal(0),
        version=balance.version,
        reason=note,
        created_at=now,
        **actor.history_fields(),
    )
    audit_balance_change(created, actor=actor, service=service)
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
    return balance, approval


def check_holds(balance: Balance, value: Decimal) -> None:
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
    check inside the database.  A change the approval policy holds for a second person
    raises ``ApprovalRequired`` (see :func:`balance_update_or_request`)."""
    result = _update(
        service=service,
        currency=currency,
        amount=amount,
        expected_version=expected_version,
        actor=actor,
        reason=reason,
        ask=False,
    )
    assert isinstance(result, Balance)
    return result


@transaction.atomic
def balance_update_or_request(
    *,
    service: Service,
    currency: str,
    amount: object,
    expected_version: int | None,
    actor: Actor,
    reason: str,
) -> Balance | ApprovalRequest:
    """:func:`balance_update` for the pages and the API: a change that needs approval is
    not applied but becomes a pending ``ApprovalRequest`` (returned), made against the
    balance's version; approving it applies it (balances/approval_handlers.py)."""
    return _update(
        service=service,
        currency=currency,
        amount=amount,
        expected_version=expected_version,
        actor=actor,
        reason=reason,
        ask=True,
    )


def _hold_back(
    kind: str,
    service: Service,
    balance: Balance,
    *,
    ask: bool,
    refusal: str,
    field: str | None,
    actor: Actor,
    reason: str,
    proposed_value: Decimal | None = None,
) -> ApprovalRequest:
    """A change the policy holds back: a pending request made against the locked balance's
    version (``ask``), or ``ApprovalRequired`` for callers that cannot wait for one."""
    if not ask:
        raise ApprovalRequired(refusal, field=field)
    return approval_actions.approval_request(
        kind=kind,
        service=service,
        currency=balance.currency,
        actor=actor,
        reason=reason,
        balance_version=balance.version,
        current_value=balance.available,
        proposed_value=proposed_value,
    )


def _update(
    *,
    service: Service,
    currency: str,
    amount: object,
    expected_version: int | None,
    actor: Actor,
    reason: str,
    ask: bool,
) -> Balance | ApprovalRequest:
    code = currencies.clean_code(currency)
    value = currencies.clean_amount(amount, code)
    note = _reason(reason, required=True)
    balance = lock_balance(service, code, with_approval_rules=True)
    _check_version(balance, expected_version)
    if balance.available == value:
        return balance
    check_holds(balance, value)
    rules = rules_from(balance)
    if actor.type == ActorType.USER and rules.manual_change_needs_approval(
        balance.available, value
    ):
        return _hold_back(
            ApprovalRequest.Kind.BALANCE_UPDATE,
            service,
            balance,
            ask=ask,
            refusal=f"Changing the {code} balance by more than the approval limit needs a "
            "second person's approval.",
            field="amount",
            actor=actor,
            reason=note,
            proposed_value=value,
        )
    return write_update(service=service, balance=balance, value=value, note=note, actor=actor)


def write_update(
    *,
    service: Service,
    balance: Balance,
    value: Decimal,
    note: str,
    actor: Actor,
    approved: Approved | None = None,
) -> Balance:
    """Write a checked change of the locked ``balance`` (history and event included)."""
    code = balance.currency
    expected_version = balance.version
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
    # A sync held for review asked about the value this change replaces: moot now.
    reviews_clear(balance_ids=[balance.pk], because=BalanceReview.ClearedBecause.BALANCE_CHANGED)
    balance.refresh_from_db()
    record_available_change(
        service=service,
        balance=balance,
        kind=BalanceChange.Kind.UPDATED,
        old_available=old_available,
        reason=note,
        actor=actor,
        now=now,
        approved=approved,
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
        watched=balance.watched,  # read back under the row lock
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
    approved: Approved | None = None,
) -> BalanceChange:
    """The history entry of a write that changed only the available figure; ``balance`` is
    as it is after the write (``approved``: the approval request and its approver).  A
    person's write is audited too."""
    change = BalanceChange.objects.create(
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
        **_approval_fields(approved),
    )
    audit_balance_change(change, actor=actor, service=service)
    return change


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
    """Delete the balance; a deletion the approval policy holds for a second person raises
    ``ApprovalRequired`` (see :func:`balance_delete_or_request`)."""
    _delete(
        service=service,
        currency=currency,
        actor=actor,
        expected_version=expected_version,
        reason=reason,
        ask=False,
    )


@transaction.atomic
def balance_delete_or_request(
    *,
    service: Service,
    currency: str,
    actor: Actor,
    expected_version: int | None = None,
    reason: str = "",
) -> ApprovalRequest | None:
    """:func:`balance_delete` for the pages and the API: None when deleted, or the pending
    ``ApprovalRequest`` when the deletion needs approval."""
    return _delete(
        service=service,
        currency=currency,
        actor=actor,
        expected_version=expected_version,
        reason=reason,
        ask=True,
    )


def check_deletable(balance: Balance) -> None:
    blockers = deletion_blockers(balance)
    if blockers:
        raise NotAllowed(
            f"The {balance.currency} balance cannot be deleted: {'; '.join(blockers)}.",
            details={"reasons": blockers},
            code="not_deletable",
        )


def _delete(
    *,
    service: Service,
    currency: str,
    actor: Actor,
    expected_version: int | None,
    reason: str,
    ask: bool,
) -> ApprovalRequest | None:
    code = currencies.clean_code(currency)
    note = _reason(reason, required=False)
    balance = lock_balance(service, code, with_approval_rules=True)
    _check_version(balance, expected_version)
    check_deletable(balance)
    if actor.type == ActorType.USER and rules_from(balance).deletion_needs_approval(
        balance.available
    ):
        return _hold_back(
            ApprovalRequest.Kind.BALANCE_DELETE,
            service,
            balance,
            ask=ask,
            refusal=f"Deleting a {code} balance that is not zero needs a second person's approval.",
            field=None,
            actor=actor,
            reason=note,
        )
    write_delete(service=service, balance=balance, note=note, actor=actor)
    return None


def write_delete(
    *,
    service: Service,
    balance: Balance,
    note: str,
    actor: Actor,
    approved: Approved | None = None,
) -> None:
    """Delete the locked, checked ``balance`` (history and event included)."""
    code = balance.currency
    deleted = BalanceChange.objects.create(
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
        **_approval_fields(approved),
    )
    audit_balance_change(deleted, actor=actor, service=service)
    reviews_clear(balance_ids=[balance.pk], because=BalanceReview.ClearedBecause.BALANCE_DELETED)
    # Requests made against this balance die with it (a new one restarts at version 1).
    approval_actions.balance_requests_close(
        service=service,
        currency=code,
        actor=actor,
        keep=approved[0].public_id if approved is not None else "",
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
