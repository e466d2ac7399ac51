"""Every write to payouts: creation (priced, held, idempotent) and the state machine.

Money rules, in one place for the pages and the API:

* A payout that has not ended holds amount + fee on its balance: ``Balance.held``, moved
  only by the balances actions called here, in the payout's transaction.  Available for
  payout = available - held, both read from the one balance row.
* Creation locks the balance row (SELECT ... FOR UPDATE), checks the funds on it and adds
  the hold before the lock is released.  Every creation on that balance queues behind the
  lock, so the row it reads holds every payout committed before it: no two requests can
  both spend the same funds.
* Paid debits the balance by amount + fee (history entry by the payout) and releases the
  hold in the same UPDATE; failed and canceled only release the hold.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from balances.actions.payout import (
    balance_debit_for_payout,
    balance_hold_for_payout,
    balance_release_for_payout,
)
from balances.models import Balance
from core import events
from core.actors import Actor
from core.errors import (
    Conflict,
    NotAllowed,
    NotFound,
    StaleVersion,
    Unprocessable,
    ValidationFailed,
)
from core.money import currencies
from payouts.models import Payout, PayoutEvent
from services.fees import formula as fees
from services.models import FeeRule, Service

DESTINATION_MAX_LENGTH = 255
IDEMPOTENCY_KEY_MAX_LENGTH = 255
REASON_MAX_LENGTH = 1000

S = Payout.Status
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.PENDING: (S.PROCESSING, S.FAILED, S.CANCELED),
    S.PROCESSING: (S.PAID, S.FAILED, S.CANCELED),
    S.PAID: (),
    S.FAILED: (),
    S.CANCELED: (),
}
ENDED = (S.PAID, S.FAILED, S.CANCELED)


def allowed_transitions(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


# --- input --------------------------------------------------------------------------------


def _amount(raw: object, currency: str) -> Decimal:
    value = currencies.clean_amount(raw, currency)
    if value <= 0:
        raise ValidationFailed("The amount must be greater than zero.", field="amount")
    return value


def _destination(raw: object) -> str:
    text = " ".join(str(raw or "").split())
    if not text:
        raise ValidationFailed(
            "Say where the money goes (a reference to the beneficiary).", field="destination"
        )
    if len(text) > DESTINATION_MAX_LENGTH:
        raise ValidationFailed(
            f"Keep the destination under {DESTINATION_MAX_LENGTH} characters.",
            field="destination",
        )
    return text


def _idempotency_key(raw: str | None) -> str | None:
    key = (raw or "").strip()
    if not key:
        return None
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValidationFailed(
            f"Keep the idempotency key under {IDEMPOTENCY_KEY_MAX_LENGTH} characters.",
            field="idempotency_key",
        )
    return key


def _reason(raw: str | None) -> str:
    text = (raw or "").strip()
    if len(text) > REASON_MAX_LENGTH:
        raise ValidationFailed(
            f"Keep the reason under {REASON_MAX_LENGTH} characters.", field="reason"
        )
    return text


def request_fingerprint(*, currency: str, amount: Decimal, destination: str) -> str:
    """What makes two requests "the same body": 100 and 100.00 EUR are the same amount."""
    canonical = json.dumps(
        [currency, currencies.plain_amount(amount, currency), destination], ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _shown(value: Decimal, currency: str) -> str:
    return currencies.format_amount(value, currency)


# --- creation -----------------------------------------------------------------------------


def _replay(existing: Payout, fingerprint: str) -> tuple[Payout, bool]:
    if existing.request_fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used for a different payout request "
            f"({existing.public_id}); use a new key for a new payout.",
            field="idempotency_key",
            details={"payoutId": existing.public_id},
            code="idempotency_key_reused",
        )
    return existing, False


def _existing(service: Service, key: str | None) -> Payout | None:
    if key is None:
        return None
    return Payout.objects.filter(service=service, idempotency_key=key).first()


def _funds_check(balance: Balance, *, amount: Decimal, fee: Decimal, currency: str) -> None:
    held = balance.held
    free = balance.available_for_payout
    needed = amount + fee
    if needed > free:
        raise Unprocessable(
            f"Insufficient funds: the payout needs {_shown(needed, currency)} {currency} "
            f"({_shown(amount, currency)} + {_shown(fee, currency)} fee), "
            f"{_shown(free, currency)} available for payout "
            f"({_shown(balance.available, currency)} available, "
            f"{_shown(held, currency)} on hold for payouts).",
            field="amount",
            code="insufficient_funds",
            details={
                "currency": currency,
                "needed": currencies.plain_amount(needed, currency),
                "fee": currencies.plain_amount(fee, currency),
                "available": currencies.plain_amount(balance.available, currency),
                "onHold": currencies.plain_amount(held, currency),
                "availableForPayout": currencies.plain_amount(free, currency),
            },
        )


def _lock_balance(service: Service, code: str) -> Balance:
    try:
        balance = Balance.objects.select_for_update().get(service=service, currency=code)
        balance.service = service  # the hold's event names it: no query for it
        return balance
    except Balance.DoesNotExist:
        raise NotFound(
            f"{service.public_id} has no {code} balance to pay out from.",
            field="currency",
            code="balance_not_found",
        ) from None


def _check_payable(
    *, current: Service, value: Decimal, code: str, quote: Any, expected_fee: Decimal | None
) -> None:
    """What may refuse a payout besides funds: the service's state, the minimum, a fee that
    changed since it was shown."""
    if current.status != Service.Status.ACTIVE:
        raise NotAllowed(
            f"{current.name} is {current.status}; only active services can pay out.",
            code="service_not_active",
        )
    if value < quote.minimum_payout:
        raise Unprocessable(
            f"The minimum payout is {_shown(quote.minimum_payout, code)} {code}; "
            f"{_shown(value, code)} {code} is below it.",
            field="amount",
            code="below_minimum",
            details={
                "currency": code,
                "amount": currencies.plain_amount(value, code),
                "minimum": currencies.plain_amount(quote.minimum_payout, code),
            },
        )
    if expected_fee is not None and expected_fee != quote.fee:
        raise Conflict(
            f"The fee changed from {_shown(expected_fee, code)} to {_shown(quote.fee, code)} "
            f"{code} since it was shown; review the payout and confirm again.",
            code="fee_changed",
            details={"fee": currencies.plain_amount(quote.fee, code)},
        )


def _insert(fields: dict[str, Any], *, service: Service, key: str | None) -> Payout | None:
    """The new payout, or None when a concurrent request with the same key won."""
    if key is None:
        return Payout.objects.create(**fields)
    try:
        with transaction.atomic():
            return Payout.objects.create(**fields)
    except IntegrityError:
        # The same key used concurrently for another currency (a different balance lock):
        # the unique constraint made the other request win.
        if _existing(service, key) is None:  # pragma: no cover - any other constraint is a bug
            raise
        return None


@transaction.atomic
def payout_create(
    *,
    service: Service,
    currency: str,
    amount: object,
    destination: str,
    actor: Actor,
    idempotency_key: str | None = None,
    expected_fee: Decimal | None = None,
) -> tuple[Payout, bool]:
    """Create a pending payout; returns ``(payout, created)``.

    With an ``idempotency_key`` already used on this service: the same request returns the
    first payout (``created`` False), a different one raises ``Conflict``.  ``expected_fee``
    (the fee the user was shown) refuses the payout if the fee changed in the meantime.
    """
    code = currencies.clean_code(currency)
    value = _amount(amount, code)
    where = _destination(destination)
    key = _idempotency_key(idempotency_key)
    fingerprint = request_fingerprint(currency=code, amount=value, destination=where)

    existing = _existing(service, key)
    if existing is not None:
        return _replay(existing, fingerprint)

    # Priced before the lock: every payout on this balance queues for that lock, so it is
    # held only for what needs it (the funds check, the insert and the hold).  Each
    # statement reads what is committed now, so this is the fee profile in force, not the
    # one the caller loaded.
    current = Service.objects.select_related("fee_profile").get(pk=service.pk)
    quote = fees.quote(
        profile=current.fee_profile, operation=FeeRule.Operation.PAYOUT, currency=code, amount=value
    )

    balance = _lock_balance(service, code)
    # A twin request with the same key waited on the lock above: it sees our payout now.
    existing = _existing(service, key)
    if existing is not None:
        return _replay(existing, fingerprint)
    _check_payable(current=current, value=value, code=code, quote=quote, expected_fee=expected_fee)
    _funds_check(balance, amount=value, fee=quote.fee, currency=code)

    now = timezone.now()
    payout = _insert(
        {
            "service": service,
            "currency": code,
            "amount": value,
            "fee": quote.fee,
            "destination": where,
            "idempotency_key": key,
            "request_fingerprint": fingerprint,
            "created_by": actor.user,
            "created_by_label": actor.label[:150],
            "created_at": now,
            "updated_at": now,
        },
        service=service,
        key=key,
    )
    if payout is None:
        return _replay(_existing(service, key), fingerprint)  # type: ignore[arg-type]
    balance_hold_for_payout(balance=balance, amount=payout.total)
    PayoutEvent.objects.create(
        payout=payout,
        from_status="",
        to_status=payout.status,
        actor_label=actor.label[:150],
        actor_user=actor.user,
        note=(
            f"Created: {_shown(value, code)} + {_shown(quote.fee, code)} fee "
            f"({quote.source}); {_shown(quote.total, code)} {code} on hold."
        ),
        created_at=now,
    )
    _announce(payout, service=service, from_status=None)
    return payout, True


def _announce(payout: Payout, *, service: Service, from_status: str | None) -> None:
    events.publish(
        events.PayoutStatusChanged(
            service_id=service.pk,
            service_public_id=service.public_id,
            payout_public_id=payout.public_id,
            currency=payout.currency,
            amount=payout.amount,
            fee=payout.fee,
            from_status=from_status,
            to_status=payout.status,
            at=payout.updated_at,
        )
    )


# --- state machine ------------------------------------------------------------------------


@transaction.atomic
def payout_transition(
    *,
    payout: Payout,
    to_status: str,
    actor: Actor,
    reason: str = "",
    expected_version: int | None = None,
) -> Payout:
    """Move ``payout`` to ``to_status`` if its current state allows it (else ``NotAllowed``,
    409).  ``expected_version`` is the version the caller saw (``StaleVersion`` if it moved)."""
    note = _reason(reason)
    locked = Payout.objects.select_for_update().select_related("service").get(pk=payout.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(
            f"Payout {locked.public_id} changed after you opened it; it is now "
            f"{locked.get_status_display().lower()}. Nothing was done.",
            current=locked,
            details={"currentVersion": locked.version, "status": locked.status},
        )
    if to_status not in allowed_transitions(locked.status):
        allowed = allowed_transitions(locked.status)
        raise NotAllowed(
            f"Payout {locked.public_id} is {locked.status}; it cannot become {to_status}"
            + (f" (allowed: {', '.join(allowed)})." if allowed else ", it has ended."),
            details={"status": locked.status, "allowed": list(allowed)},
            code="invalid_transition",
        )
    if to_status == S.PAID:
        # The hold becomes a debit in the same transaction: available for payout is unchanged.
        balance_debit_for_payout(
            service=locked.service,
            currency=locked.currency,
            amount=locked.total,
            payout_public_id=locked.public_id,
        )
    elif to_status in ENDED:
        balance_release_for_payout(
            service=locked.service, currency=locked.currency, amount=locked.total
        )
    now = timezone.now()
    from_status = locked.status
    locked.status = to_status
    locked.version += 1
    locked.updated_at = now
    fields = ["status", "version", "updated_at"]
    if to_status in ENDED:
        locked.ended_at = now
        fields.append("ended_at")
    if to_status == S.FAILED:
        locked.failure_reason = note
        fields.append("failure_reason")
    locked.save(update_fields=fields)
    PayoutEvent.objects.create(
        payout=locked,
        from_status=from_status,
        to_status=to_status,
        actor_label=actor.label[:150],
        actor_user=actor.user,
        note=note,
        created_at=now,
    )
    _announce(locked, service=locked.service, from_status=from_status)
    return locked


def payout_process(
    *, payout: Payout, actor: Actor, reason: str = "", expected_version: int | None = None
) -> Payout:
    return payout_transition(
        payout=payout,
        to_status=S.PROCESSING,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
    )


def payout_pay(
    *, payout: Payout, actor: Actor, reason: str = "", expected_version: int | None = None
) -> Payout:
    return payout_transition(
        payout=payout,
        to_status=S.PAID,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
    )


def payout_fail(
    *, payout: Payout, actor: Actor, reason: str = "", expected_version: int | None = None
) -> Payout:
    return payout_transition(
        payout=payout,
        to_status=S.FAILED,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
    )


def payout_cancel(
    *, payout: Payout, actor: Actor, reason: str = "", expected_version: int | None = None
) -> Payout:
    return payout_transition(
        payout=payout,
        to_status=S.CANCELED,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
    )


# The verbs of the pages and the API ("pay" -> paid), in the order they are offered.
ACTIONS: dict[str, str] = {
    "process": S.PROCESSING,
    "pay": S.PAID,
    "fail": S.FAILED,
    "cancel": S.CANCELED,
}


def actions_allowed(payout: Payout) -> list[str]:
    allowed = allowed_transitions(payout.status)
    return [verb for verb, status in ACTIONS.items() if status in allowed]
