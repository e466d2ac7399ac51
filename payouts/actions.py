"""Every write to payouts: creation (priced, held, idempotent) and the state machine.

Money rules, in one place for the pages and the API:

* A payout that has not ended holds amount + fee on its balance: ``Balance.held``, moved
  only by the balances actions called here, in the payout's transaction.  Available for
  payout = available - held, both read from the one balance row.
* Creation holds amount + fee with one conditional UPDATE ... RETURNING of the balance row
  (``balance_hold_for_new_payout``): it takes the row lock, checks the funds on the row as
  every payout committed before it left it, and adds the hold, so no two requests can both
  spend the same funds.  Every creation on that balance queues behind that lock, so the
  hold is the transaction's last write: parsing, pricing, the idempotency check and the
  inserts of the payout and its entries happen before it, and only the hold, the alert
  evaluation it triggers and the commit run under the lock.  The idempotency key's unique
  constraint decides between concurrent requests with the same key.
* Paid debits the balance by amount + fee (history entry by the payout) and releases the
  hold in the same UPDATE; failed and canceled only release the hold.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from approvals import actions as approval_actions
from approvals.models import ApprovalRequest
from approvals.policy import Rules, rules_from, rules_from_raw, with_rules, with_rules_of
from balances.actions.payout import (
    balance_debit_for_payout,
    balance_hold_for_new_payout,
    balance_hold_for_payout,
    balance_release_for_payout,
)
from balances.models import Balance
from core import events
from core.actors import Actor, ActorType
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
from services.actions import audit
from services.fees import formula as fees
from services.models import FeeRule, Service

DESTINATION_MAX_LENGTH = 255
IDEMPOTENCY_KEY_MAX_LENGTH = 255
REASON_MAX_LENGTH = 1000

S = Payout.Status
TRANSITIONS: dict[str, tuple[str, ...]] = {
    # Only through its approval request (approvals): approved -> pending; rejected or
    # expired -> canceled.
    S.AWAITING_APPROVAL: (S.PENDING, S.CANCELED),
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
        # The currency's approval rules come with the locked row (no query of their own).
        balance = with_rules(Balance.objects.select_for_update()).get(
            service=service, currency=code
        )
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


class _KeyTaken(Exception):
    """A concurrent request with the same idempotency key committed first (the unique
    constraint said so): this one's transaction is rolled back and the first one's payout
    is the answer."""


class _RulesMoved(Exception):
    """The approval policy read under the balance lock differs from the one the payout was
    written with: written again with these rules."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules


# A policy edited between reading it and locking the balance costs one more attempt; edited
# again and again meanwhile (never in practice), the caller is asked to retry.
POLICY_ATTEMPTS = 3


@dataclass(frozen=True)
class _Draft:
    """A payout request, parsed and priced before any lock is taken."""

    service: Service
    code: str
    value: Decimal
    where: str
    key: str | None
    fingerprint: str
    quote: Any
    actor: Actor


def _prepare(service: Service, code: str, key: str | None) -> tuple[Service, int | None]:
    """One statement: the service as committed now (its status, its fee profile in force,
    not the one the caller loaded), the payout already made with ``key`` if any, and the
    currency's approval rules, all before the balance lock."""
    found = with_rules_of(Service.objects.select_related("fee_profile"), code)
    if key is not None:
        taken = Payout.objects.filter(service=OuterRef("pk"), idempotency_key=key)
        found = found.annotate(existing_payout_pk=Subquery(taken.values("pk")[:1]))
    current = found.get(pk=service.pk)
    return current, getattr(current, "existing_payout_pk", None)


@transaction.atomic
def _write(draft: _Draft, rules: Rules) -> Payout:
    """The payout, its timeline entry and audit entry, then the hold: the balance row is
    locked by the hold's statement, so only the hold, what listens to it in the same
    transaction (alerts) and the commit run under the lock.  Raises ``_KeyTaken`` or
    ``_RulesMoved`` to roll everything back."""
    code, value, fee, actor = draft.code, draft.value, draft.quote.fee, draft.actor
    needs_approval = rules.payout_needs_approval(value)
    now = timezone.now()
    payout = _insert(
        {
            "status": S.AWAITING_APPROVAL if needs_approval else S.PENDING,
            "service": draft.service,
            "currency": code,
            "amount": value,
            "fee": fee,
            "destination": draft.where,
            "idempotency_key": draft.key,
            "request_fingerprint": draft.fingerprint,
            "created_by": actor.user,
            "created_by_label": actor.label[:150],
            "created_at": now,
            "updated_at": now,
        }
    )
    note = (
        f"Created: {_shown(value, code)} + {_shown(fee, code)} fee "
        f"({draft.quote.source}); {_shown(draft.quote.total, code)} {code} on hold."
    )
    if needs_approval:
        approval = approval_actions.approval_request(
            kind=ApprovalRequest.Kind.PAYOUT,
            service=draft.service,
            currency=code,
            actor=actor,
            reason=f"Payout to {draft.where}",
            proposed_value=value,
            payout_public_id=payout.public_id,
        )
        note += f" Waiting for approval ({approval.public_id})."
    event = PayoutEvent.objects.create(
        payout=payout,
        from_status="",
        to_status=payout.status,
        actor_label=actor.label[:150],
        actor_user=actor.user,
        note=note,
        created_at=now,
    )
    _audit(
        payout,
        action="payout_created",
        actor=actor,
        changes={
            "status": payout.status,
            "currency": code,
            "amount": _plain(value, code),
            "fee": _plain(fee, code),
            "destination": draft.where,
        },
    )
    locked_rules = _hold(draft, total=payout.total)
    if locked_rules.payout_needs_approval(value) != needs_approval:
        raise _RulesMoved(locked_rules)
    # The timeline as written: the API answers with it without reading it back.
    payout.timeline = [event]  # type: ignore[attr-defined]
    _announce(payout, service=draft.service, from_status=None)
    return payout


def _hold(draft: _Draft, *, total: Decimal) -> Rules:
    """Hold ``total`` on the balance and return the approval rules read under its lock:
    one UPDATE ... RETURNING when the funds suffice (the common case); otherwise the row is
    locked and read to say why nothing can be held."""
    balance = balance_hold_for_new_payout(service=draft.service, currency=draft.code, amount=total)
    if balance is not None:
        return rules_from_raw(balance)
    balance = _lock_balance(draft.service, draft.code)
    _funds_check(balance, amount=draft.value, fee=draft.quote.fee, currency=draft.code)
    # The funds were freed between the two statements (a payout ended): hold on the locked row.
    balance_hold_for_payout(balance=balance, amount=total)
    return rules_from(balance)


def _insert(fields: dict[str, Any]) -> Payout:
    """The new payout; ``_KeyTaken`` when a concurrent request with the same key won (the
    unique constraint is the truth: the fast-path check before is only a shortcut)."""
    if fields["idempotency_key"] is None:
        return Payout.objects.create(**fields)
    try:
        return Payout.objects.create(**fields)
    except IntegrityError as exc:
        raise _KeyTaken from exc


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
    """Create a pending payout; returns ``(payout, created)``.  Above the currency's
    approval limit it is created ``awaiting_approval`` instead, holding its funds the same
    way, with an approval request (``approvals.queries.approval_for_payout``).

    With an ``idempotency_key`` already used on this service: the same request returns the
    first payout (``created`` False), a different one raises ``Conflict``.  ``expected_fee``
    (the fee the user was shown) refuses the payout if the fee changed in the meantime.

    Every payout on a balance queues for its row lock, so everything that does not need it
    happens before: parsing, the idempotency check, the service, pricing, the approval
    rules (checked again under the lock), and the inserts of the payout and its entries.
    One transaction; the lock is taken by its last write, the hold.
    """
    code = currencies.clean_code(currency)
    value = _amount(amount, code)
    where = _destination(destination)
    key = _idempotency_key(idempotency_key)
    fingerprint = request_fingerprint(currency=code, amount=value, destination=where)

    current, existing_pk = _prepare(service, code, key)
    if existing_pk is not None:
        return _replay(Payout.objects.get(pk=existing_pk), fingerprint)
    quote = fees.quote(
        profile=current.fee_profile, operation=FeeRule.Operation.PAYOUT, currency=code, amount=value
    )
    _check_payable(current=current, value=value, code=code, quote=quote, expected_fee=expected_fee)
    draft = _Draft(
        service=service,
        code=code,
        value=value,
        where=where,
        key=key,
        fingerprint=fingerprint,
        quote=quote,
        actor=actor,
    )
    rules = rules_from(current, code)
    for _ in range(POLICY_ATTEMPTS):
        try:
            return _write(draft, rules), True
        except _KeyTaken:
            existing = _existing(service, key)
            if existing is None:  # pragma: no cover - any other constraint is a bug
                raise
            return _replay(existing, fingerprint)
        except _RulesMoved as moved:
            rules = moved.rules
    raise Conflict(
        "The approval policy of this currency changed while the payout was being created; "
        "nothing was done, try again.",
        code="policy_changed",
    )


def _plain(value: Decimal, currency: str) -> str:
    return currencies.plain_amount(value, currency)


def _audit(
    payout: Payout, *, action: str, actor: Actor, changes: dict[str, Any], reason: str = ""
) -> None:
    """A person's write to a payout in the audit log (the payout's own events keep every
    move, the system's included)."""
    if actor.type != ActorType.USER:
        return
    audit(
        actor=actor,
        action=action,
        subject=f"payout {payout.public_id}",
        service=payout.service,
        changes=changes,
        object_type="payout",
        object_id=payout.public_id,
        reason=reason,
    )


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
    approval_public_id: str = "",
) -> Payout:
    """Move ``payout`` to ``to_status`` if its current state allows it (else ``NotAllowed``,
    409).  ``expected_version`` is the version the caller saw (``StaleVersion`` if it moved).
    A payout awaiting approval moves only by its approval request (``approval_public_id``,
    given by the request's handlers in payouts/approval_handlers.py)."""
    note = _reason(reason)
    locked = Payout.objects.select_for_update().select_related("service").get(pk=payout.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(
            f"Payout {locked.public_id} changed after you opened it; it is now "
            f"{locked.get_status_display().lower()}. Nothing was done.",
            current=locked,
            details={"currentVersion": locked.version, "status": locked.status},
        )
    if locked.status == S.AWAITING_APPROVAL and not approval_public_id:
        raise NotAllowed(
            f"Payout {locked.public_id} is awaiting approval: approve or reject its request "
            "in Approvals.",
            details={"status": locked.status, "allowed": []},
            code="awaiting_approval",
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
    _audit(
        locked,
        action=f"payout_{to_status}",
        actor=actor,
        changes={"status": [from_status, to_status]},
        reason=note,
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
    if payout.status == S.AWAITING_APPROVAL:
        return []  # decided in Approvals
    allowed = allowed_transitions(payout.status)
    return [verb for verb, status in ACTIONS.items() if status in allowed]
