"""Shapes of ``GET /api/v1/overview`` (camelCase, amounts as exact JSON numbers with the
currency's digits)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from alerts.overview import queries
from balances.providers.base import kind_choices
from core.money import currencies
from core.money.fields import AMOUNT_SCHEMA, AmountOutField, exact_amount
from services.countries import is_country
from services.models import Service

# --- Input --------------------------------------------------------------------------------


class OverviewQuery(serializers.Serializer):
    """Filters of the attention list (the totals are always of everything)."""

    currency = serializers.CharField(
        required=False, allow_blank=True, max_length=16, help_text="A currency code, e.g. EUR."
    )
    provider = serializers.ChoiceField(
        required=False,
        allow_blank=True,
        choices=[],
        help_text='A provider kind, or "none" for services without a provider connection.',
    )
    country = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2,
        help_text="The service's country, ISO 3166-1 alpha-2.",
    )
    status = serializers.ChoiceField(
        required=False,
        allow_blank=True,
        choices=Service.Status.choices,
        help_text="The service's status.",
    )
    issue = serializers.ChoiceField(
        required=False, allow_blank=True, choices=list(queries.ISSUES.items())
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built at use, from the adapters' registry (a new provider needs no change here).
        self.fields["provider"].choices = [*kind_choices(), (queries.NO_PROVIDER, "No provider")]

    def validate_currency(self, raw: str) -> str:
        code = currencies.normalise_code(raw)
        if code and not currencies.is_known(code):
            raise serializers.ValidationError(f"Unknown currency code: {code[:16]}.")
        return code

    def validate_country(self, raw: str) -> str:
        code = raw.strip().upper() if raw.isascii() else raw
        if code and not is_country(code):
            raise serializers.ValidationError(f"Unknown country code: {code}.")
        return code

    def filters(self) -> queries.AttentionFilters:
        data = self.validated_data
        return queries.AttentionFilters(
            **{name: data.get(name) or "" for name in queries.ATTENTION_FILTERS}
        )


# --- Output -------------------------------------------------------------------------------


@extend_schema_serializer(component_name="CurrencyTotal")
class CurrencyTotalOut(serializers.Serializer):
    currency = serializers.CharField()
    available = AmountOutField("available")
    pending = AmountOutField("pending")
    reserved = AmountOutField("reserved")
    onHold = AmountOutField("held", help_text="What open payouts hold.")
    availableForPayout = AmountOutField(
        "available_for_payout", help_text="Available minus what open payouts hold."
    )
    services = serializers.IntegerField(help_text="Services with a balance in this currency.")


@extend_schema_serializer(component_name="AttentionItem")
class AttentionItemOut(serializers.Serializer):
    issue = serializers.ChoiceField(choices=list(queries.ISSUES.items()))
    label = serializers.CharField()
    serviceId = serializers.CharField(source="service_id")
    serviceName = serializers.CharField(source="service_name")
    serviceStatus = serializers.CharField(source="service_status")
    country = serializers.CharField()
    provider = serializers.SerializerMethodField(help_text="Provider kind; null without one.")
    currency = serializers.SerializerMethodField(help_text="Null for a connection's row.")
    amount = serializers.SerializerMethodField(
        help_text="The figure the row is about (available, available for payout, or the value "
        "when the alert opened); null when there is none."
    )
    detail = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True)
    alertId = serializers.SerializerMethodField(help_text="The alert's id, for alert rows.")

    def get_provider(self, row: queries.AttentionRow) -> str | None:
        return row.provider or None

    def get_currency(self, row: queries.AttentionRow) -> str | None:
        return row.currency or None

    @extend_schema_field({**AMOUNT_SCHEMA, "nullable": True})
    def get_amount(self, row: queries.AttentionRow) -> Decimal | None:
        if row.amount is None or not row.currency:
            return None
        try:
            return exact_amount(row.amount, row.currency)
        except currencies.AmountError:
            return row.amount

    def get_alertId(self, row: queries.AttentionRow) -> str | None:
        return row.alert_id or None


@extend_schema_serializer(component_name="Overview")
class OverviewOut(serializers.Serializer):
    totals = CurrencyTotalOut(many=True)
    attention = AttentionItemOut(many=True)
