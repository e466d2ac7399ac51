"""Input and output shapes of the payouts API (camelCase; amounts are exact JSON numbers
with the currency's digits, as in the balances API)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.money.fields import AmountInField, AmountOutField
from payouts.actions import DESTINATION_MAX_LENGTH, REASON_MAX_LENGTH, actions_allowed
from payouts.models import Payout, PayoutEvent


class PayoutEventOut(serializers.Serializer):
    fromStatus = serializers.SerializerMethodField()
    toStatus = serializers.CharField(source="to_status")
    actor = serializers.CharField(source="actor_label")
    note = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")

    def get_fromStatus(self, event: PayoutEvent) -> str | None:
        return event.from_status or None


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


class PayoutDetailOut(PayoutOut):
    events = PayoutEventOut(many=True, source="timeline")


class PayoutCreateIn(serializers.Serializer):
    currency = serializers.CharField(max_length=16, trim_whitespace=False)
    amount = AmountInField()
    destination = serializers.CharField(
        max_length=DESTINATION_MAX_LENGTH, help_text="Reference to the beneficiary."
    )


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
