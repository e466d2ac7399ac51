"""Input and output shapes of the alerts API (camelCase).  Thresholds and values are exact
strings: an amount with the currency's digits ("100.00", "5000", "0.12345678"), or a whole
number of minutes / failed runs for the kinds that count those."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts import evaluate
from alerts.actions import MAX_EMAILS, NOTE_MAX_LENGTH
from alerts.models import Alert, AlertRule, Kind
from core.money.fields import AMOUNT_MAX_INPUT_LENGTH, AmountInField


class TextField(serializers.CharField):
    """A string, and only a string: 12 or true is not a note."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


KIND_HELP = (
    "available_below: available < threshold; available_for_payout_below: available minus "
    "what open payouts hold < threshold (default 0); stale: not confirmed by a sync for more "
    "than staleMinutes; sync_failing: failures failed runs in a row (default 3), or the "
    "schedule paused."
)


class AlertRuleOut(serializers.Serializer):
    ruleId = serializers.CharField(source="public_id")
    serviceId = serializers.SerializerMethodField(help_text="null: every service.")
    currency = serializers.CharField()
    kind = serializers.ChoiceField(choices=Kind.choices, help_text=KIND_HELP)
    threshold = serializers.SerializerMethodField(
        help_text="Exact decimal string with the currency's digits; null for stale and "
        "sync_failing."
    )
    staleMinutes = serializers.IntegerField(source="stale_minutes", allow_null=True)
    failures = serializers.IntegerField(allow_null=True)
    emails = serializers.ListField(child=serializers.EmailField())
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    @extend_schema_field({"type": "string", "nullable": True})
    def get_serviceId(self, rule: AlertRule) -> str | None:
        return rule.service.public_id if rule.service_id else None

    @extend_schema_field({"type": "string", "nullable": True, "example": "100.00"})
    def get_threshold(self, rule: AlertRule) -> str | None:
        if rule.threshold is None:
            return None
        return evaluate.rule_threshold(rule)


class _RuleFields(serializers.Serializer):
    serviceId = TextField(
        max_length=32,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="A service's id (srv_…) for that service only; null for every service "
        "(a service's own rule of the same kind and currency overrides it).",
    )
    currency = TextField(max_length=16, trim_whitespace=False)
    kind = TextField(max_length=32, help_text=KIND_HELP)
    threshold = AmountInField(
        required=False,
        allow_null=True,
        help_text="For available_below (required) and available_for_payout_below (default "
        f"0): a decimal string (at most {AMOUNT_MAX_INPUT_LENGTH} characters) with no more "
        "digits than the currency has.",
    )
    staleMinutes = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="For stale (required): minutes without a confirmed sync, 1 to 527040.",
    )
    failures = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="For sync_failing: failed runs in a row, 1 to 1000 (default 3).",
    )
    emails = serializers.ListField(
        child=TextField(max_length=254),
        required=False,
        max_length=MAX_EMAILS,
        help_text="Addresses mailed when an alert of this rule opens.",
    )

    def action_kwargs(self) -> dict[str, Any]:
        names = {
            "currency": "currency",
            "kind": "kind",
            "threshold": "threshold",
            "staleMinutes": "stale_minutes",
            "failures": "failures",
            "emails": "emails",
        }
        return {names[k]: v for k, v in self.validated_data.items() if k in names}


class AlertRuleCreateIn(_RuleFields):
    pass


class AlertRuleUpdateIn(_RuleFields):
    """Every field optional: only what is sent changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class AlertRuleListQuery(serializers.Serializer):
    serviceId = serializers.CharField(required=False, max_length=32)
    currency = serializers.CharField(required=False, max_length=16)

    def validate_currency(self, value: str) -> str:
        return value.strip().upper()


class AlertOut(serializers.Serializer):
    alertId = serializers.CharField(source="public_id")
    ruleId = serializers.SerializerMethodField(help_text="null once the rule was deleted.")
    serviceId = serializers.CharField(source="service.public_id")
    currency = serializers.CharField()
    kind = serializers.ChoiceField(choices=Kind.choices)
    status = serializers.ChoiceField(choices=Alert.Status.choices)
    threshold = serializers.CharField(
        help_text="The rule's threshold when the alert opened (amount, minutes or failures)."
    )
    openedAt = serializers.DateTimeField(source="opened_at")
    openedValue = serializers.CharField(
        source="opened_value",
        help_text="Exact: an amount with the currency's digits, minutes without a confirmed "
        "sync, or failed runs in a row.",
    )
    resolvedAt = serializers.DateTimeField(source="resolved_at", allow_null=True)
    resolvedValue = serializers.SerializerMethodField(
        help_text="The same figure when it resolved; null while unresolved, or when the "
        "balance or the rule went away."
    )
    resolvedReason = serializers.SerializerMethodField()
    acknowledgedAt = serializers.DateTimeField(source="acknowledged_at", allow_null=True)
    acknowledgedBy = serializers.SerializerMethodField()
    note = serializers.CharField()

    @extend_schema_field({"type": "string", "nullable": True})
    def get_ruleId(self, alert: Alert) -> str | None:
        return alert.rule.public_id if alert.rule_id else None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_resolvedValue(self, alert: Alert) -> str | None:
        return alert.resolved_value or None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_resolvedReason(self, alert: Alert) -> str | None:
        return alert.resolved_reason or None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_acknowledgedBy(self, alert: Alert) -> str | None:
        return alert.acknowledged_by_label or None


class AlertListQuery(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["open", "acknowledged", "resolved", "unresolved"],
        required=False,
        help_text="unresolved: open or acknowledged.",
    )
    serviceId = serializers.CharField(required=False, max_length=32)
    currency = serializers.CharField(required=False, max_length=16)
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)

    def validate_currency(self, value: str) -> str:
        return value.strip().upper()


class AcknowledgeIn(serializers.Serializer):
    note = TextField(max_length=NOTE_MAX_LENGTH, help_text="What is being done about it.")
