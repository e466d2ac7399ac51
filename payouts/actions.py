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

from django.db import transaction
from django.utils import timezone

from balances.actions.payout import balance_debit_for_payout, balance_release_for_payout
from core.actors import Actor
from core.errors import NotAllowed, StaleVersion
from payouts.common import (
    DESTINATION_MAX_LENGTH,
    ENDED,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    REASON_MAX_LENGTH,
    TRANSITIONS,
    S,
    _announce,
    _audit,
    _reason,
    allowed_transitions,
    request_fingerprint,
)
from payouts.creation import payout_create
from payouts.models import Payout, PayoutEvent

__all__ = [
    "ACTIONS",
    "DESTINATION_MAX_LENGTH",
    "IDEMPOTENCY_KEY_MAX_LENGTH",
    "REASON_MAX_LENGTH",
    "TRANSITIONS",
    "actions_allowed",
    "allowed_transitions",
    "payout_cancel",
    "payout_create",
    "payout_fail",
    "payout_pay",
    "payout_process",
    "payout_transition",
    "request_fingerprint",
]

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
