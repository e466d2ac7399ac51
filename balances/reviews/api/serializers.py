"""Shapes of the review API (camelCase, amounts as exact JSON numbers with the currency's
digits, like the balances API)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from balances.actions.balance import REASON_MAX_LENGTH
from balances.models import BalanceReview
from balances.reviews.actions import DECISIONS
from core.money.fields import AmountOutField, NullableAmountOutField


@extend_schema_serializer(component_name="BalanceReview")
class ReviewOut(serializers.Serializer):
    reviewId = serializers.CharField(source="public_id")
    serviceId = serializers.CharField(source="service.public_id")
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=BalanceReview.Status.choices)
    manualValue = AmountOutField(
        "manual_available", help_text="The available amount set by hand, left in place."
    )
    providerValue = AmountOutField(
        "provider_available", help_text="What the provider reports (its latest sync)."
    )
    providerPending = NullableAmountOutField("provider_pending")
    providerReserved = NullableAmountOutField("provider_reserved")
    difference = AmountOutField(
        "difference", help_text="providerValue minus manualValue, with its sign."
    )
    openedAt = serializers.DateTimeField(source="opened_at")
    lastSeenAt = serializers.DateTimeField(
        source="last_seen_at", help_text="When a sync last reported providerValue."
    )
    manualSetBy = serializers.CharField(source="manual_set_by_label")
    manualSetAt = serializers.DateTimeField(source="manual_set_at")
    syncRunId = serializers.SerializerMethodField()
    decidedBy = serializers.SerializerMethodField()
    decidedAt = serializers.DateTimeField(source="decided_at", allow_null=True)
    note = serializers.CharField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_syncRunId(self, review: BalanceReview) -> str | None:
        return review.sync_run.public_id if review.sync_run_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_decidedBy(self, review: Any) -> str | None:
        return review.decided_by_label or None


@extend_schema_serializer(component_name="BalanceReviewDecision")
class DecisionIn(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=DECISIONS,
        help_text="accept_provider: apply the provider's figures; keep_manual: keep the value "
        "set by hand (protected until the window ends or the provider agrees).",
    )
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=REASON_MAX_LENGTH,
        default="",
        help_text="Recorded in the balance's history with the decision.",
    )
