"""Input and output shapes of the approvals API (camelCase).  A request's amounts are exact
JSON numbers with the currency's digits, as in the balances API; a policy's limits are exact
strings (or null), as the policy is written."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from approvals.actions import COMMENT_MAX_LENGTH
from approvals.models import ApprovalRequest
from approvals.policy import Rules
from approvals.queries import shown_status
from core.money import currencies
from core.money.fields import AMOUNT_MAX_INPUT_LENGTH, NullableAmountOutField

STATUSES = [
    (value, label)
    for value, label in ApprovalRequest.Status.choices
    if value != ApprovalRequest.Status.SUPERSEDED
] + [(ApprovalRequest.Status.SUPERSEDED, "Renewed (replaced by a new request)")]


class BlankIsNull(serializers.CharField):
    """A text column stored blank when it does not apply, answered null."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> str | None:
        return str(value) or None


@extend_schema_serializer(component_name="ApprovalRequest")
class ApprovalOut(serializers.Serializer):
    approvalId = serializers.CharField(source="public_id")
    kind = serializers.ChoiceField(choices=ApprovalRequest.Kind.choices)
    serviceId = serializers.CharField(source="service.public_id")
    currency = serializers.CharField()
    status = serializers.SerializerMethodField(
        help_text="pending, approved, rejected, expired (a pending request past expiresAt is "
        "expired) or superseded (renewed)."
    )
    requestedBy = serializers.CharField(
        source="requested_by_label",
        help_text="Who asked for the change; a renewal keeps its requester (see renewedBy).",
    )
    requestedAt = serializers.DateTimeField(
        source="requested_at", help_text="When this request was made (a renewal: renewed)."
    )
    reason = serializers.CharField()
    currentValue = NullableAmountOutField(
        "current_value", help_text="The balance's available amount when asked."
    )
    proposedValue = NullableAmountOutField(
        "proposed_value",
        help_text="The amount asked for (null: deletion); for a payout, its amount.",
    )
    balanceVersion = serializers.IntegerField(
        source="balance_version", allow_null=True, help_text="The version it was asked against."
    )
    payoutId = BlankIsNull(source="payout_public_id")
    decidedBy = BlankIsNull(source="decided_by_label")
    decidedAt = serializers.DateTimeField(source="decided_at", allow_null=True)
    comment = serializers.CharField()
    expiresAt = serializers.DateTimeField(source="expires_at")
    renewedFrom = BlankIsNull(
        source="renewed_from", help_text="The request this one renewed (null: not a renewal)."
    )
    renewedBy = BlankIsNull(
        source="renewed_by_label",
        help_text="Who renewed it (null: not a renewal).  Neither they nor the requester, "
        "nor anyone who renewed an earlier request of the chain, may approve it.",
    )
    renewedAs = BlankIsNull(
        source="renewed_as",
        help_text="The request that renewed this one (status superseded), else null.",
    )

    @extend_schema_field({"type": "string", "enum": [s for s, _ in STATUSES]})
    def get_status(self, approval: ApprovalRequest) -> str:
        return shown_status(approval)


class ApprovalListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=STATUSES, required=False)
    kind = serializers.ChoiceField(choices=ApprovalRequest.Kind.choices, required=False)
    currency = serializers.CharField(required=False, max_length=16)
    serviceId = serializers.CharField(required=False, max_length=32)
    requestedBy = serializers.CharField(required=False, max_length=150)

    def validate_currency(self, value: str) -> str:
        return currencies.normalise_code(value)


@extend_schema_serializer(component_name="ApprovalDecision")
class DecisionIn(serializers.Serializer):
    comment = serializers.CharField(
        required=False, allow_blank=True, max_length=COMMENT_MAX_LENGTH, default=""
    )

    @classmethod
    def from_request(cls, data: Any) -> DecisionIn:
        return cls(data=data if isinstance(data, dict) else {})


LIMIT_SCHEMA = {
    "type": "string",
    "nullable": True,
    "maxLength": AMOUNT_MAX_INPUT_LENGTH,
    "example": "1000.00",
    "description": "An amount with the currency's digits (0: every one), or null: never.",
}


@extend_schema_field(LIMIT_SCHEMA)
class LimitField(serializers.Field):
    """A limit as an exact string or number, or null; checked by the action."""

    default_error_messages = {
        "invalid": "A limit must be a decimal string, a number or null.",
        "too_long": f"A limit must be at most {AMOUNT_MAX_INPUT_LENGTH} characters.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("default", None)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        if len(str(data)) > AMOUNT_MAX_INPUT_LENGTH:
            self.fail("too_long")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_serializer(component_name="ApprovalPolicyUpdate")
class PolicyIn(serializers.Serializer):
    manualChangeAbove = LimitField(
        help_text="A manual balance change whose absolute difference exceeds this waits."
    )
    payoutAbove = LimitField(help_text="A payout whose amount exceeds this waits.")
    nonZeroDeletion = serializers.BooleanField(
        required=False, default=False, help_text="Deleting a balance that is not zero waits."
    )


@extend_schema_serializer(component_name="ApprovalPolicy")
class PolicyOut(serializers.Serializer):
    currency = serializers.CharField()
    manualChangeAbove = serializers.SerializerMethodField()
    payoutAbove = serializers.SerializerMethodField()
    nonZeroDeletion = serializers.BooleanField(source="nonzero_deletion")
    source = serializers.ChoiceField(
        choices=[("policy", "policy"), ("default", "default"), ("none", "none")],
        help_text="policy: set for this currency; default: APPROVAL_DEFAULTS; none: nothing "
        "needs approval.",
    )

    @extend_schema_field(LIMIT_SCHEMA)
    def get_manualChangeAbove(self, rules: Rules) -> str | None:
        value = rules.manual_change_above
        return None if value is None else currencies.plain_amount(value, rules.currency)

    @extend_schema_field(LIMIT_SCHEMA)
    def get_payoutAbove(self, rules: Rules) -> str | None:
        value = rules.payout_above
        return None if value is None else currencies.plain_amount(value, rules.currency)
