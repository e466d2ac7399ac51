"""Input and output shapes of the payouts API (camelCase; amounts are exact JSON numbers
with the currency's digits, as in the balances API)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from rest_framework import serializers

from core.money.fields import AMOUNT_MAX_INPUT_LENGTH, AmountInField, AmountOutField, exact_amount
from payouts.actions import DESTINATION_MAX_LENGTH, REASON_MAX_LENGTH, actions_allowed
from payouts.models import Payout, PayoutEvent

# The declared fields below describe the shapes (validation of none: output only) and the
# schema.  Writing them out goes around DRF's generic path, which copies every declared field
# for each object serialized (a payout and its events: more CPU than the rest of the request
# around the action); the values still go through these fields' own conversions, and
# tests/payouts/test_api_shapes.py holds the output equal to the generic path's, key order
# included.
_WHEN = serializers.DateTimeField()
_STATUS = serializers.ChoiceField(choices=Payout.Status.choices)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _when(value: Any) -> str | None:
    return None if value is None else _WHEN.to_representation(value)


class PayoutEventOut(serializers.Serializer):
    fromStatus = serializers.SerializerMethodField()
    toStatus = serializers.CharField(source="to_status")
    actor = serializers.CharField(source="actor_label")
    note = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")

    def get_fromStatus(self, event: PayoutEvent) -> str | None:
        return event.from_status or None

    def to_representation(self, event: PayoutEvent) -> dict[str, Any]:
        return {
            "fromStatus": self.get_fromStatus(event),
            "toStatus": _text(event.to_status),
            "actor": _text(event.actor_label),
            "note": _text(event.note),
            "createdAt": _when(event.created_at),
        }


class PayoutOut(serializers.Serializer):
    payoutId = serializers.CharField(source="public_id")
    serviceId = serializers.CharField(source="service.public_id")
    status = serializers.ChoiceField(choices=Payout.Status.choices)
    currency = serializers.CharField()
    amount = AmountOutField("amount")
    fee = AmountOutField("fee", help_text="Fixed when the payout was created.")
    total = AmountOutField("total", help_text="amount + fee: held while open, debited when paid.")
    destination = serializers.CharField()
    idempotencyKey = serializers.CharField(source="idempotency_key", allow_null=True)
    failureReason = serializers.SerializerMethodField()
    allowedActions = serializers.SerializerMethodField(
        help_text="What its state allows: process, pay, fail, cancel."
    )
    createdBy = serializers.CharField(source="created_by_label")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    endedAt = serializers.DateTimeField(source="ended_at", allow_null=True)
    version = serializers.IntegerField()

    def get_failureReason(self, payout: Payout) -> str | None:
        return payout.failure_reason or None

    def get_allowedActions(self, payout: Payout) -> list[str]:
        return actions_allowed(payout)

    def to_representation(self, payout: Payout) -> dict[str, Any]:
        currency = payout.currency
        status = payout.status
        return {
            "payoutId": _text(payout.public_id),
            "serviceId": _text(payout.service.public_id),
            "status": None if status is None else _STATUS.to_representation(status),
            "currency": _text(currency),
            "amount": exact_amount(payout.amount, currency),
            "fee": exact_amount(payout.fee, currency),
            "total": exact_amount(payout.total, currency),
            "destination": _text(payout.destination),
            "idempotencyKey": _text(payout.idempotency_key),
            "failureReason": self.get_failureReason(payout),
            "allowedActions": self.get_allowedActions(payout),
            "createdBy": _text(payout.created_by_label),
            "createdAt": _when(payout.created_at),
            "updatedAt": _when(payout.updated_at),
            "endedAt": _when(payout.ended_at),
            "version": None if payout.version is None else int(payout.version),
        }


class PayoutDetailOut(PayoutOut):
    events = PayoutEventOut(many=True, source="timeline")

    def to_representation(self, payout: Payout) -> dict[str, Any]:
        out = super().to_representation(payout)
        timeline = payout.timeline  # type: ignore[attr-defined]
        event = PayoutEventOut()
        out["events"] = None if timeline is None else [event.to_representation(e) for e in timeline]
        return out


CURRENCY_MAX_LENGTH = 16
# What DRF's CharField refuses in any string (ProhibitNull/SurrogateCharactersValidator).
_REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


def _accepted_text(value: Any, *, trim: bool, max_length: int) -> str | None:
    """What ``CharField(max_length=…, trim_whitespace=trim)`` makes of ``value`` when it is a
    plain string that it accepts as it is; None for anything else (DRF then decides)."""
    if type(value) is not str:
        return None
    if trim:
        value = value.strip()
    if not value or len(value) > max_length or _REFUSED_CHARACTERS.search(value):
        return None
    return value


class PayoutCreateIn(serializers.Serializer):
    currency = serializers.CharField(max_length=CURRENCY_MAX_LENGTH, trim_whitespace=False)
    amount = AmountInField()
    destination = serializers.CharField(
        max_length=DESTINATION_MAX_LENGTH, help_text="Reference to the beneficiary."
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """A body that every field accepts as it is (nearly every request) is read without
        building the fields (DRF copies each declared field for each request); anything else,
        errors included, is DRF's.  tests/payouts/test_api_shapes.py holds the two equal."""
        if type(data) is dict:
            currency = _accepted_text(
                data.get("currency"), trim=False, max_length=CURRENCY_MAX_LENGTH
            )
            destination = _accepted_text(
                data.get("destination"), trim=True, max_length=DESTINATION_MAX_LENGTH
            )
            amount = data.get("amount")
            if (
                currency is not None
                and destination is not None
                and type(amount) in (str, int, Decimal)
                and len(str(amount)) <= AMOUNT_MAX_INPUT_LENGTH
            ):
                return {"currency": currency, "amount": amount, "destination": destination}
        return super().to_internal_value(data)

    def run_validators(self, value: Any) -> None:
        # Without validators of its own there is nothing to run; DRF would still build every
        # field first, to find read-only defaults to hand to them.
        if self.validators:
            super().run_validators(value)


class PayoutListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=Payout.Status.choices, required=False)
    currency = serializers.CharField(required=False, max_length=16)

    def validate_currency(self, value: str) -> str:
        return value.strip().upper()


class PayoutTransitionIn(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=REASON_MAX_LENGTH, default=""
    )

    @classmethod
    def from_request(cls, data: Any) -> PayoutTransitionIn:
        return cls(data=data if isinstance(data, dict) else {})
