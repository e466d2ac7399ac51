"""Input and output shapes of the balances API (camelCase, amounts as exact JSON numbers).

An output amount is a ``Decimal`` written with its currency's minor-unit digits
(``Decimal("8400.00")``, ``Decimal("5000")`` for JPY); ``DecimalJSONRenderer`` writes it as a
bare JSON number, so ``8400.00`` reaches the client digit for digit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from balances.actions.balance import REASON_MAX_LENGTH
from balances.history.api.serializers import AsOfField
from balances.models import Balance, BalanceChange, SyncRun
from balances.providers.base import kind_choices
from core.money import currencies
from core.money.fields import (
    AMOUNT_SCHEMA,
    AmountInField,
    AmountOutField,
    NullableAmountOutField,
    exact_amount,
)

# --- Output -------------------------------------------------------------------------------


class _BalanceFiguresOut(serializers.Serializer):
    """The documented fields first (currency, amount), then the others."""

    currency = serializers.CharField()
    amount = AmountOutField("available", help_text="Available amount.")
    pending = AmountOutField("pending")
    reserved = AmountOutField("reserved")
    availableForPayout = serializers.SerializerMethodField(
        help_text="Available amount minus what open payouts hold; null as of a past moment."
    )
    version = serializers.IntegerField(help_text="Grows with every change; the ETag.")
    updatedAt = serializers.DateTimeField(source="updated_at")
    lastSyncedAt = serializers.DateTimeField(source="last_synced_at", allow_null=True)

    @extend_schema_field({**AMOUNT_SCHEMA, "nullable": True})
    def get_availableForPayout(self, balance: Balance) -> Decimal | None:
        # None only in an answer as of a past moment: holds are not kept in the history.
        return exact_amount(balance.available_for_payout, balance.currency)


@extend_schema_serializer(component_name="BalanceItem")
class BalanceItemOut(_BalanceFiguresOut):
    pass


@extend_schema_serializer(component_name="BalanceList")
class BalanceListOut(serializers.Serializer):
    serviceId = serializers.CharField()
    balances = BalanceItemOut(many=True)


@extend_schema_serializer(component_name="Balance")
class BalanceOut(_BalanceFiguresOut):
    serviceId = serializers.CharField(source="service.public_id")

    def get_fields(self) -> dict[str, serializers.Field]:
        # serviceId leads, as in the documented configuration example.
        fields = super().get_fields()
        return {"serviceId": fields.pop("serviceId"), **fields}


@extend_schema_serializer(component_name="BalanceChange")
class BalanceChangeOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=BalanceChange.Kind.choices)
    currency = serializers.CharField()
    oldAmount = NullableAmountOutField("old_available")
    newAmount = NullableAmountOutField("new_available")
    oldPending = NullableAmountOutField("old_pending")
    newPending = NullableAmountOutField("new_pending")
    oldReserved = NullableAmountOutField("old_reserved")
    newReserved = NullableAmountOutField("new_reserved")
    version = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    actorType = serializers.CharField(source="actor_type")
    actorLabel = serializers.CharField(source="actor_label")
    syncRunId = serializers.CharField(source="sync_run.public_id", allow_null=True, default=None)
    payoutId = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")

    def get_payoutId(self, change: Any) -> str | None:
        return change.payout_public_id or None


# --- Input --------------------------------------------------------------------------------


class BalanceListQuery(serializers.Serializer):
    currency = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Comma-separated currency codes, e.g. EUR,USD.",
    )
    asOf = AsOfField()

    def validate_currency(self, raw: str) -> list[str]:
        codes = [currencies.normalise_code(part) for part in raw.split(",") if part.strip()]
        unknown = [code for code in codes if not currencies.is_known(code)]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown currency code{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}."
            )
        return list(dict.fromkeys(codes))


@extend_schema_serializer(component_name="BalanceCreate")
class BalanceCreateIn(serializers.Serializer):
    # Trimmed of spaces only, by the currency parser: "CHF\n" is not CHF.
    currency = serializers.CharField(max_length=16, trim_whitespace=False)
    amount = AmountInField(required=False, help_text="Opening amount; 0 when left out.")
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=REASON_MAX_LENGTH, default=""
    )


@extend_schema_serializer(component_name="BalanceUpdate")
class BalanceUpdateIn(serializers.Serializer):
    amount = AmountInField()
    reason = serializers.CharField(
        max_length=REASON_MAX_LENGTH, help_text="Why; recorded in the history."
    )


@extend_schema_serializer(component_name="BalanceDelete")
class BalanceDeleteIn(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=REASON_MAX_LENGTH, default=""
    )


# --- Sync runs ----------------------------------------------------------------------------


@extend_schema_serializer(component_name="SyncError")
class SyncErrorOut(serializers.Serializer):
    category = serializers.CharField(source="error_category")
    message = serializers.CharField(source="error_message")


@extend_schema_serializer(component_name="SyncRun")
class SyncRunOut(serializers.Serializer):
    syncRunId = serializers.CharField(source="public_id")
    serviceId = serializers.CharField(source="service.public_id")
    provider = serializers.CharField(source="provider_kind")
    trigger = serializers.ChoiceField(choices=SyncRun.Trigger.choices)
    status = serializers.ChoiceField(choices=SyncRun.Status.choices)
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    result = serializers.SerializerMethodField(
        help_text="Counts and per-currency changes; null until the run has applied a snapshot."
    )
    error = serializers.SerializerMethodField()

    @extend_schema_field({"type": "object", "additionalProperties": {}, "nullable": True})
    def get_result(self, run: SyncRun) -> dict[str, Any] | None:
        return run.result or None

    @extend_schema_field(SyncErrorOut(allow_null=True))
    def get_error(self, run: SyncRun) -> dict[str, Any] | None:
        if not run.error_category and not run.error_message:
            return None
        return SyncErrorOut(run).data


class SyncRunListQuery(serializers.Serializer):
    """Filters of the sync run lists (the same as the Sync runs page's)."""

    status = serializers.ChoiceField(choices=SyncRun.Status.choices, required=False)
    provider = serializers.ChoiceField(choices=[], required=False, help_text="A provider kind.")
    trigger = serializers.ChoiceField(choices=SyncRun.Trigger.choices, required=False)
    dateFrom = serializers.DateField(
        required=False, help_text="Runs created on or after this day (UTC), e.g. 2026-11-27."
    )
    dateTo = serializers.DateField(
        required=False, help_text="Runs created on or before this day (UTC)."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built at use, from the adapters' registry (a new provider needs no change here).
        self.fields["provider"].choices = kind_choices()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("dateFrom"), attrs.get("dateTo")
        if start and end and start > end:
            raise serializers.ValidationError({"dateTo": ["Must not be before dateFrom."]})
        return attrs

    def filters(self) -> dict[str, Any]:
        data = self.validated_data
        return {
            "status": data.get("status", ""),
            "provider": data.get("provider", ""),
            "trigger": data.get("trigger", ""),
            "date_from": data.get("dateFrom"),
            "date_to": data.get("dateTo"),
        }


class SyncRunAcrossQuery(SyncRunListQuery):
    serviceId = serializers.CharField(
        required=False, max_length=32, help_text="Only this service's runs, e.g. srv_10293."
    )
