"""An operator's decision on a review: apply the provider's figures, or keep the value set by
hand.  One transaction each, under the balance's row lock, with its history entry."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from balances import events
from balances.actions.balance import REASON_MAX_LENGTH, lock_balance
from balances.models import Balance, BalanceChange, BalanceReview
from core.actors import Actor, ActorType
from core.errors import Conflict, NotFound, ValidationFailed
from core.money import currencies
from services.models import Service

Status = BalanceReview.Status
DECISIONS = (Status.ACCEPTED.value, Status.KEPT.value)


def clean_decision(raw: object) -> str:
    decision = raw.strip() if isinstance(raw, str) else ""
    if decision not in DECISIONS:
        raise ValidationFailed("Decision must be accept_provider or keep_manual.", field="decision")
    return decision


def clean_note(raw: object) -> str:
    note = raw.strip() if isinstance(raw, str) else ""
    if len(note) > REASON_MAX_LENGTH:
        raise ValidationFailed(f"Keep the note under {REASON_MAX_LENGTH} characters.", field="note")
    if "\x00" in note:
        raise ValidationFailed("The note contains a NUL character.", field="note")
    return note


@transaction.atomic
def review_decide(
    *,
    service: Service,
    currency: str,
    decision: object,
    actor: Actor,
    note: object = "",
    review_id: str | None = None,
) -> BalanceReview:
    """Decide the review waiting on the service's ``currency`` balance.

    ``NotFound`` when none waits; ``Conflict`` (``balance_moved``) when the balance changed
    since the review opened, or when ``review_id`` (what the operator was looking at) is no
    longer the review waiting.  Accepting writes the provider's figures recorded in the
    review; keeping records the choice, and the value stays protected."""
    choice = clean_decision(decision)
    text = clean_note(note)
    balance = lock_balance(service, currencies.normalise_code(currency))
    review = _waiting_review(service, balance, review_id)
    now = timezone.now()
    if choice == Status.ACCEPTED:
        _accept(service, balance, review, actor, text, now)
    else:
        _keep(service, balance, review, actor, text, now)
    review.status = choice
    review.decided_at = now
    review.decided_by_label = actor.label[:150]
    review.decided_by_user = actor.user
    review.note = text
    review.save(
        update_fields=["status", "decided_at", "decided_by_label", "decided_by_user", "note"]
    )
    return review


def _waiting_review(service: Service, balance: Balance, review_id: str | None) -> BalanceReview:
    """The balance's latest review, locked, if it is the one to decide now."""
    review = (
        BalanceReview.objects.select_for_update(of=("self",))
        .select_related("sync_run")
        .filter(balance=balance)
        .order_by("-opened_at", "-id")
        .first()
    )
    moved = review is not None and (
        (review.is_open and review.manual_version != balance.version)
        or review.cleared_because == BalanceReview.ClearedBecause.BALANCE_CHANGED
    )
    if moved:
        shown = currencies.format_amount(balance.available, balance.currency)
        raise Conflict(
            f"The {balance.currency} balance was changed by "
            f"{balance.updated_by_label or 'someone else'} after this review opened; it is now "
            f"{shown} {balance.currency}. Nothing was changed.",
            code="balance_moved",
            details={
                "currentVersion": balance.version,
                "currentAmount": currencies.plain_amount(balance.available, balance.currency),
            },
        )
    if review is None or not review.is_open:
        raise NotFound(
            f"No review is waiting on the {balance.currency} balance of {service.public_id}."
        )
    review.service = service
    if review_id is not None and review.public_id != review_id:
        raise Conflict(
            "Another sync has opened a new review of this balance since you loaded it; "
            "review the figures again.",
            code="review_changed",
            details={"reviewId": review.public_id},
        )
    return review


def _accept(
    service: Service,
    balance: Balance,
    review: BalanceReview,
    actor: Actor,
    note: str,
    now: datetime,
) -> None:
    """Write the provider's figures.  The value is the provider's from now on (the type
    ``sync``), so the next sync may update it again without asking; the operator who
    accepted is the label and the history's actor."""
    before = events.figures_of(balance)
    pending = balance.pending if review.provider_pending is None else review.provider_pending
    reserved = balance.reserved if review.provider_reserved is None else review.provider_reserved
    Balance.objects.filter(pk=balance.pk, version=balance.version).update(
        available=review.provider_available,
        pending=pending,
        reserved=reserved,
        version=F("version") + 1,
        updated_at=now,
        updated_by_type=ActorType.SYNC,
        updated_by_label=actor.label[:150],
        last_synced_at=review.last_seen_at,
    )
    balance.refresh_from_db()
    reason = (
        f"Provider value accepted ({review.public_id}): the provider reported "
        f"{_shown(review.provider_available, balance.currency)} against the value set by "
        f"hand by {review.manual_set_by_label or 'an operator'}"
        f" ({_shown(review.manual_available, balance.currency)})"
    )
    old = (before.available, before.pending, before.reserved)
    _record(service, balance, old, review, actor, _with_note(reason, note), now)
    events.balance_changed(
        service_id=service.pk,
        service_public_id=service.public_id,
        currency=balance.currency,
        kind=BalanceChange.Kind.REVIEWED,
        before=before,
        after=events.figures_of(balance),
        actor_label=actor.label,
        at=now,
    )


def _keep(
    service: Service,
    balance: Balance,
    review: BalanceReview,
    actor: Actor,
    note: str,
    now: datetime,
) -> None:
    """Record the choice; the figures and the version stay (the value is still the one set
    by hand, protected until the window ends or the provider agrees)."""
    reason = (
        f"Manual value kept ({review.public_id}): the provider reported "
        f"{_shown(review.provider_available, balance.currency)} (difference "
        f"{_signed(review.difference, balance.currency)})"
    )
    old = (balance.available, balance.pending, balance.reserved)
    _record(service, balance, old, review, actor, _with_note(reason, note), now)


def _record(
    service: Service,
    balance: Balance,
    old: tuple[Decimal, Decimal, Decimal],
    review: BalanceReview,
    actor: Actor,
    reason: str,
    now: datetime,
) -> BalanceChange:
    """The ``reviewed`` history entry: ``old`` (available, pending, reserved) before, the
    balance as it is now after; linked to the sync run the review came from."""
    fields = {**actor.history_fields(), "sync_run": review.sync_run}
    return BalanceChange.objects.create(
        service=service,
        balance=balance,
        currency=balance.currency,
        kind=BalanceChange.Kind.REVIEWED,
        old_available=old[0],
        new_available=balance.available,
        old_pending=old[1],
        new_pending=balance.pending,
        old_reserved=old[2],
        new_reserved=balance.reserved,
        version=balance.version,
        reason=reason,
        created_at=now,
        **fields,
    )


def _shown(amount: Decimal, currency: str) -> str:
    return f"{currencies.format_amount(amount, currency)} {currency}"


def _signed(amount: Decimal, currency: str) -> str:
    text = currencies.format_amount(amount, currency)
    return text if amount < 0 else f"+{text}"


def _with_note(reason: str, note: str) -> str:
    return f"{reason}. Note: {note}" if note else reason
