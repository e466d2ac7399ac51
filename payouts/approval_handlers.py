"""What an approval request of kind ``payout`` means (registered in PayoutsConfig.ready):
approving moves the payout from awaiting_approval to pending; rejecting or expiry cancels it,
releasing its hold.  Both through the state machine, in the approving transaction."""

from __future__ import annotations

from django.urls import reverse

from approvals.registry import Description, Handler, register
from core.actors import Actor
from core.money import currencies
from payouts.actions import payout_transition
from payouts.models import Payout

S = Payout.Status


def _payout(request) -> Payout | None:
    return (
        Payout.objects.select_related("service")
        .filter(public_id=request.payout_public_id, service_id=request.service_id)
        .first()
    )


def apply(request, approver: Actor) -> None:
    payout = _payout(request)
    if payout is None:  # pragma: no cover - payouts are never deleted
        return
    payout_transition(
        payout=payout,
        to_status=S.PENDING,
        actor=approver,
        reason=f"Approved ({request.public_id}).",
        approval_public_id=request.public_id,
    )


def cancel(request, actor: Actor) -> None:
    payout = _payout(request)
    if payout is None or payout.status != S.AWAITING_APPROVAL:
        return
    why = "expired" if actor.label.startswith("approvals:") else "rejected"
    payout_transition(
        payout=payout,
        to_status=S.CANCELED,
        actor=actor,
        reason=f"Approval {why} ({request.public_id}); hold released.",
        approval_public_id=request.public_id,
    )


def describe(request) -> Description:
    payout = _payout(request)
    if payout is None:
        return Description(exists=False, summary="The payout no longer exists.")
    code = payout.currency
    return Description(
        exists=True,
        current_value=payout.amount,
        summary=(
            f"{currencies.format_amount(payout.amount, code)} + "
            f"{currencies.format_amount(payout.fee, code)} fee {code} to {payout.destination}; "
            f"now {payout.get_status_display().lower()}."
        ),
        history=list(payout.events.order_by("-created_at", "-id")[:10]),
        link=reverse("payouts:detail", args=[payout.service.public_id, payout.public_id]),
    )


def register_handlers() -> None:
    register(
        "payout",
        Handler(apply=apply, cancel=cancel, describe=describe, perm="payouts.add_payout"),
    )
