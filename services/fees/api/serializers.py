"""Input and output shapes of the fee profiles API (camelCase; amounts and percentages are
exact JSON numbers).  A rule's ``currency`` is null for "any currency"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money.fields import AMOUNT_SCHEMA, AmountInField, exact_amount
from services.fees import formula as fees
from services.fees.actions import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH
from services.models import FeeProfile, FeeRule


def rule_figure(value: Decimal | None, currency: str) -> Decimal | None:
    """With the currency's digits for a currency's rule; as entered for "any currency"."""
    return None if value is None else Decimal(fees.plain_figure(value, currency))


@extend_schema_field({**AMOUNT_SCHEMA, "nullable": True})
class RuleFigureOut(serializers.Field):
    def __init__(self, figure: str, **kwargs: Any) -> None:
        self.figure = figure
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, rule: FeeRule) -> Decimal | None:
        return rule_figure(getattr(rule, self.figure), rule.currency)


class FeeRuleOut(serializers.Serializer):
    id = serializers.IntegerField()
    operation = serializers.ChoiceField(choices=FeeRule.Operation.choices)
    currency = serializers.SerializerMethodField(help_text="null: any currency.")
    percentage = serializers.SerializerMethodField(help_text="In percent: 1.75 means 1.75 %.")
    fixedAmount = RuleFigureOut("fixed_amount")
    minimumFee = RuleFigureOut("minimum_fee")
    maximumFee = RuleFigureOut("maximum_fee")
    minimumPayoutAmount = RuleFigureOut(
        "minimum_payout_amount", help_text="Payout rules; null: the platform default."
    )

    def get_currency(self, rule: FeeRule) -> str | None:
        return rule.currency or None

    @extend_schema_field({"type": "number"})
    def get_percentage(self, rule: FeeRule) -> Decimal:
        return Decimal(f"{rule.percentage.normalize():f}")


class FeeProfileOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    version = serializers.IntegerField(help_text="Grows with every change; the ETag.")
    rules = FeeRuleOut(many=True, source="rules.all")
    serviceIds = serializers.SerializerMethodField(help_text="Services that use this profile.")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_serviceIds(self, profile: FeeProfile) -> list[str]:
        return [s.public_id for s in profile.services.all()]


class FeeRuleIn(serializers.Serializer):
    operation = serializers.CharField(max_length=16, help_text="payin, payout or refund.")
    currency = serializers.CharField(
        max_length=16,
        trim_whitespace=False,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text='A currency code; null, "" or "any" for any currency.',
    )
    percentage = AmountInField(required=False, help_text="In percent, up to 4 decimal places.")
    fixedAmount = AmountInField(required=False)
    minimumFee = AmountInField(required=False)
    maximumFee = AmountInField(required=False, allow_null=True)
    minimumPayoutAmount = AmountInField(required=False, allow_null=True)

    FIELDS = {
        "operation": "operation",
        "currency": "currency",
        "percentage": "percentage",
        "fixedAmount": "fixed_amount",
        "minimumFee": "minimum_fee",
        "maximumFee": "maximum_fee",
        "minimumPayoutAmount": "minimum_payout_amount",
    }

    def to_internal_value(self, data: Any) -> Any:
        # The model's names (fixed_amount…) are understood too; camelCase wins when both come.
        if isinstance(data, dict):
            data = {
                **{camel: data[snake] for camel, snake in self.FIELDS.items() if snake in data},
                **data,
            }
            data = {k: v for k, v in data.items() if k in self.FIELDS}
        return super().to_internal_value(data)

    @classmethod
    def action_kwargs(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Validated data under the names of ``fees.clean_rule``."""
        return {cls.FIELDS[k]: v for k, v in data.items() if k in cls.FIELDS}


class FeeRulePatchIn(FeeRuleIn):
    operation = serializers.CharField(max_length=16, required=False)


class FeeProfileCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    rules = FeeRuleIn(many=True, required=False)


class FeeProfileUpdateIn(serializers.Serializer):
    """Only the fields sent change; ``rules`` replaces all the profile's rules."""

    name = serializers.CharField(max_length=NAME_MAX_LENGTH, required=False)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
    )
    rules = FeeRuleIn(many=True, required=False)


class FeeQuoteIn(serializers.Serializer):
    operation = serializers.CharField(max_length=16, help_text="payin, payout or refund.")
    currency = serializers.CharField(max_length=16, trim_whitespace=False)
    amount = AmountInField()


class FeeQuoteOut(serializers.Serializer):
    operation = serializers.CharField()
    currency = serializers.CharField()
    amount = serializers.SerializerMethodField()
    fee = serializers.SerializerMethodField()
    total = serializers.SerializerMethodField(help_text="amount + fee.")
    minimumPayoutAmount = serializers.SerializerMethodField(
        help_text="For payouts: the minimum that applies (the rule's or the platform's)."
    )
    ruleId = serializers.SerializerMethodField(help_text="null: platform defaults applied.")
    source = serializers.CharField()

    @extend_schema_field(AMOUNT_SCHEMA)
    def get_amount(self, quote: Any) -> Decimal | None:
        return exact_amount(quote.amount, quote.currency)

    @extend_schema_field(AMOUNT_SCHEMA)
    def get_fee(self, quote: Any) -> Decimal | None:
        return exact_amount(quote.fee, quote.currency)

    @extend_schema_field(AMOUNT_SCHEMA)
    def get_total(self, quote: Any) -> Decimal | None:
        return exact_amount(quote.total, quote.currency)

    @extend_schema_field({**AMOUNT_SCHEMA, "nullable": True})
    def get_minimumPayoutAmount(self, quote: Any) -> Decimal | None:
        if quote.operation != FeeRule.Operation.PAYOUT:
            return None
        return exact_amount(quote.minimum_payout, quote.currency)

    def get_ruleId(self, quote: Any) -> int | None:
        return quote.rule.pk if quote.rule is not None else None
