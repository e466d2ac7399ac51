"""What the payout actions share: the states and their moves, the cleaning of what a user
typed, and how a write is audited and announced (payouts.creation, payouts.actions)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from core import events
from core.actors import Actor, ActorType
from core.errors import ValidationFailed
from core.money import currencies
from payouts.models import Payout
from services.actions import audit
from services.models import Service

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
    if not key.isprintable():
        # NUL and other control characters: PostgreSQL refuses NUL in text, and no client
        # means them; refused as input, never stored.
        raise ValidationFailed(
            "The idempotency key has a control character; use printable characters only.",
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


def _plain(value: Decimal, currency: str) -> str:
    return currencies.plain_amount(value, currency)


def _audit(
    payout: Payout, *, action: str, actor: Actor, changes: dict[str, Any], reason: str = ""
) -> None:
    """A person's write to a payout in the audit log (the payout's own events keep every
    move, the system's included)."""
    values = _audit_values(payout, action=action, actor=actor, changes=changes, reason=reason)
    if values is not None:
        audit(**values, service=payout.service)


def _audit_values(
    payout: Payout, *, action: str, actor: Actor, changes: dict[str, Any], reason: str = ""
) -> dict[str, Any] | None:
    """The arguments of :func:`_audit`'s entry; None when it writes none (not a person)."""
    if actor.type != ActorType.USER:
        return None
    return {
        "actor": actor,
        "action": action,
        "subject": f"payout {payout.public_id}",
        "changes": changes,
        "object_type": "payout",
        "object_id": payout.public_id,
        "reason": reason,
    }


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
