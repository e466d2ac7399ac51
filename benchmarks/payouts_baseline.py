"""The payout creation path as it was before the hot-path rework (issue "Hot paths near the
limit"), kept only so that benchmarks/payouts_bench.py can measure "before" and "after" in
the same run on the same machine.  Never imported by the application.

Differences from payouts.actions.payout_create: the whole action is one transaction that
reads the idempotency key, the service and the fee rules inside it; the balance is locked
with SELECT ... FOR UPDATE (with the approval rules), the key is read again under the lock,
the payout is inserted in a savepoint, the hold is a second UPDATE, and the timeline and
audit entries are written under the lock; the API reads the timeline back for its answer.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from approvals import actions as approval_actions
from approvals.models import ApprovalRequest
from approvals.policy import rules_from
from balances.actions.payout import balance_hold_for_payout
from core.actors import Actor
from core.money import currencies
from payouts import actions
from payouts import common as a
from payouts import creation as c
from payouts.models import Payout, PayoutEvent
from services.fees import formula as fees
from services.models import AuditEntry, FeeRule, Service


@transaction.atomic
def payout_create_before(
    *,
    service: Service,
    currency: str,
    amount: object,
    destination: str,
    actor: Actor,
    idempotency_key: str | None = None,
    expected_fee: Decimal | None = None,
) -> tuple[Payout, bool]:
    code = currencies.clean_code(currency)
    value = a._amount(amount, code)
    where = a._destination(destination)
    key = a._idempotency_key(idempotency_key)
    fingerprint = a.request_fingerprint(currency=code, amount=value, destination=where)
    existing = c._existing(service, key)
    if existing is not None:
        return c._replay(existing, fingerprint)
    current = Service.objects.select_related("fee_profile").get(pk=service.pk)
    quote = fees.quote(
        profile=current.fee_profile, operation=FeeRule.Operation.PAYOUT, currency=code, amount=value
    )
    balance = c._lock_balance(service, code)
    existing = c._existing(service, key)
    if existing is not None:
        return c._replay(existing, fingerprint)
    c._check_payable(found=current, value=value, code=code, quote=quote, expected_fee=expected_fee)
    c._funds_check(balance, amount=value, fee=quote.fee, currency=code)
    now = timezone.now()
    needs_approval = rules_from(balance).payout_needs_approval(value)
    with transaction.atomic():
        payout = Payout.objects.create(
            status=a.S.AWAITING_APPROVAL if needs_approval else a.S.PENDING,
            service=service,
            currency=code,
            amount=value,
            fee=quote.fee,
            destination=where,
            idempotency_key=key,
            request_fingerprint=fingerprint,
            created_by=actor.user,
            created_by_label=actor.label[:150],
            created_at=now,
            updated_at=now,
        )
    balance_hold_for_payout(balance=balance, amount=payout.total)
    note = f"Created: {a._shown(value, code)} + {a._shown(quote.fee, code)} fee ({quote.source})."
    if needs_approval:
        approval = approval_actions.approval_request(
            kind=ApprovalRequest.Kind.PAYOUT,
            service=service,
            currency=code,
            actor=actor,
            reason=f"Payout to {where}",
            proposed_value=value,
            payout_public_id=payout.public_id,
        )
        note += f" Waiting for approval ({approval.public_id})."
    PayoutEvent.objects.create(
        payout=payout,
        from_status="",
        to_status=payout.status,
        actor_label=actor.label[:150],
        actor_user=actor.user,
        note=note,
        created_at=now,
    )
    if actor.user is not None:  # the audit entry as it was written then: through the ORM
        AuditEntry.objects.create(
            service=service,
            subject=f"payout {payout.public_id}",
            object_type="payout",
            object_id=payout.public_id,
            action="payout_created",
            actor_label=actor.label[:150],
            actor_user=actor.user,
            via=actor.via[:32],
            changes={"status": payout.status, "currency": code, "amount": a._plain(value, code)},
        )
    a._announce(payout, service=service, from_status=None)
    return payout, True


def install() -> None:
    """Make the action and the API use the path as it was (in this process only)."""
    actions.payout_create = payout_create_before  # type: ignore[assignment]
