"""The amount serializer fields: amounts in as strings or exact numbers, out as exact
numbers with the currency's digits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import currencies

AMOUNT_MAX_INPUT_LENGTH = 64
AMOUNT_SCHEMA = {
    "type": "number",
    "description": "Exact decimal written with the currency's minor-unit digits "
    "(8400.00 EUR, 5000 JPY, 1234.567 KWD, 8 digits for USDT_TRC20).",
}


def exact_amount(amount: Decimal | None, currency: str) -> Decimal | None:
    """``amount`` with its currency's digits, as a Decimal the renderer writes verbatim.
    More digits are kept when the value carries them: an amount is never rounded."""
    if amount is None:
        return None
    return Decimal(currencies.plain_amount(amount, currency))


@extend_schema_field(AMOUNT_SCHEMA)
class AmountOutField(serializers.Field):
    """One of a row's amounts; the row (``source="*"``) supplies the currency."""

    def __init__(self, figure: str, **kwargs: Any) -> None:
        self.figure = figure
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, row: Any) -> Decimal | None:
        return exact_amount(getattr(row, self.figure), row.currency)


@extend_schema_field({**AMOUNT_SCHEMA, "nullable": True})
class NullableAmountOutField(AmountOutField):
    pass


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "maxLength": AMOUNT_MAX_INPUT_LENGTH, "example": "12500.75"},
            {"type": "number", "example": 12500.75},
        ],
        "description": "A decimal string or a JSON number, read exactly; more decimal places "
        "than the currency has are refused, never rounded.",
    }
)
class AmountInField(serializers.Field):
    """Accepts a string or an exact number and hands it on untouched: the action checks it
    against the currency's precision (``currencies.parse_amount``)."""

    default_error_messages = {
        "invalid": "Amount must be a decimal string or a number.",
        "too_long": f"Amount must be at most {AMOUNT_MAX_INPUT_LENGTH} characters.",
    }

    def to_internal_value(self, data: Any) -> str | int | Decimal:
        # bool is an int subclass; float never comes out of DecimalJSONParser.
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        if len(str(data)) > AMOUNT_MAX_INPUT_LENGTH:
            self.fail("too_long")
        return data

    def to_representation(self, value: Any) -> Any:
        return value
