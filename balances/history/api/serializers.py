"""Shapes of the as-of parameter and of ``GET /api/v1/balances`` (balances across
services, now or as of a moment; JSON or CSV)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from balances.history.asof import MOMENT_MAX_LENGTH, InvalidMoment, parse_moment
from balances.history.export import CURRENT_ONLY_FIGURES, FIGURES, BalanceFilters
from core.money import currencies
from core.money.fields import AMOUNT_SCHEMA, exact_amount

AS_OF_HELP = (
    "A moment in RFC 3339 with its offset or Z, e.g. 2026-11-27T18:00:00Z (write + as %2B "
    "in a URL). The answer is the balances as they were then, from their history: a "
    "currency created later is absent, one deleted later is present. `version` and "
    "`updatedAt` are those of the change that set the figures; `availableForPayout` and "
    "`lastSyncedAt` are null (what payouts held and when a provider confirmed a figure are "
    "not kept in the history). A moment in the future, or without its offset, is refused "
    "(400)."
)


@extend_schema_field({"type": "string", "format": "date-time", "maxLength": MOMENT_MAX_LENGTH})
class AsOfField(serializers.CharField):
    """``asOf``: an RFC 3339 moment with offset, read by ``parse_moment``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", AS_OF_HELP)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> datetime:  # type: ignore[override]
        text = super().to_internal_value(data)
        try:
            return parse_moment(text)
        except InvalidMoment as exc:
            raise serializers.ValidationError(str(exc)) from None


class BalancesAcrossQuery(serializers.Serializer):
    currency = serializers.CharField(
        required=False, allow_blank=True, max_length=16, help_text="A currency code, e.g. EUR."
    )
    serviceId = serializers.RegexField(
        r"^srv_[a-z0-9]{1,28}$",
        required=False,
        allow_blank=True,
        max_length=32,
        help_text="Only this service's balances.",
    )
    figure = serializers.ChoiceField(
        required=False,
        allow_blank=True,
        choices=[(name, name) for name in FIGURES],
        help_text="Only balances where this figure is not zero (held and "
        "available_for_payout: current balances only).",
    )
    asOf = AsOfField()

    def validate_currency(self, raw: str) -> str:
        code = currencies.normalise_code(raw)
        if code and not currencies.is_known(code):
            raise serializers.ValidationError(f"Unknown currency code: {code[:16]}.")
        return code

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("asOf") is not None and data.get("figure") in CURRENT_ONLY_FIGURES:
            raise serializers.ValidationError(
                {
                    "figure": "What payouts held is not kept in the history: use this filter "
                    "without asOf."
                }
            )
        return data

    def filters(self) -> BalanceFilters:
        data = self.validated_data
        return BalanceFilters(
            currency=data.get("currency") or "",
            figure=data.get("figure") or "",
            service=data.get("serviceId") or "",
            as_of=data.get("asOf"),
        )


@extend_schema_serializer(component_name="BalanceAcrossServices")
class BalanceAcrossOut(serializers.Serializer):
    """One row of the export: a balance (now, or as of the moment asked) with its service."""

    serviceId = serializers.CharField(source="service.public_id")
    serviceName = serializers.CharField(source="service.name")
    currency = serializers.CharField()
    available = serializers.SerializerMethodField()
    pending = serializers.SerializerMethodField()
    reserved = serializers.SerializerMethodField()
    held = serializers.SerializerMethodField(
        help_text="What open payouts hold; null as of a past moment (not kept in the history)."
    )
    updatedAt = serializers.DateTimeField(source="updated_at")
    updatedBy = serializers.CharField(source="updated_by_label")

    @extend_schema_field(AMOUNT_SCHEMA)
    def get_available(self, row: Any) -> Decimal | None:
        return exact_amount(row.available, row.currency)

    @extend_schema_field(AMOUNT_SCHEMA)
    def get_pending(self, row: Any) -> Decimal | None:
        return exact_amount(row.pending, row.currency)

    @extend_schema_field(AMOUNT_SCHEMA)
    def get_reserved(self, row: Any) -> Decimal | None:
        return exact_amount(row.reserved, row.currency)

    @extend_schema_field({**AMOUNT_SCHEMA, "nullable": True})
    def get_held(self, row: Any) -> Decimal | None:
        return exact_amount(row.held, row.currency)
