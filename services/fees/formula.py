"""The fee formula, rule resolution and what a valid rule is: the one place a fee is computed.

    fee = percentage / 100 * amount + fixed, clamped to [minimum, maximum],
          rounded half-up to the currency's minor unit

``FeeRule.percentage`` is stored in percent (1.75 means 1.75 %).  The most specific rule wins:
a rule for the currency beats a rule for "any" currency.  Without a profile or a matching
rule the platform defaults apply: fee 0 and ``settings.PAYOUT_MINIMUMS`` (SyncPay's documented
minimum withdrawals; other currencies have no minimum).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Decimal,
    localcontext,
)
from typing import Any

from django.conf import settings

from core.errors import ValidationFailed
from core.money import currencies
from services.models import FeeProfile, FeeRule

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def compute_fee(
    *,
    amount: Decimal,
    currency: str,
    percentage: Decimal = ZERO,
    fixed_amount: Decimal = ZERO,
    minimum_fee: Decimal = ZERO,
    maximum_fee: Decimal | None = None,
) -> Decimal:
    """The fee for ``amount``, exact in the currency's minor units.

    Clamping happens before rounding, as the formula reads.  The bounds themselves are
    brought to the minor unit inwards (minimum up, maximum down) so that the rounded fee
    can never leave [minimum, maximum] even when an "any currency" rule carries bounds finer
    than the currency (0.5 as a JPY minimum).
    """
    quantum = currencies.get(currency).quantum
    # Wide enough that the product of a 28-digit amount and a 4-place percentage is exact:
    # the only rounding is the half-up one below.
    with localcontext() as ctx:
        ctx.prec = 80
        raw = percentage * amount / HUNDRED + fixed_amount
        low = minimum_fee.quantize(quantum, rounding=ROUND_CEILING)
        high = None if maximum_fee is None else maximum_fee.quantize(quantum, rounding=ROUND_FLOOR)
        if high is not None and high < low:
            # Only when both bounds fall inside one minor unit; the minimum wins.
            high = low
        fee = max(raw, low)
        if high is not None:
            fee = min(fee, high)
        # low and high sit on the minor-unit grid, so rounding cannot push the fee past them.
        return fee.quantize(quantum, rounding=ROUND_HALF_UP)


def platform_minimum_payout(currency: str) -> Decimal:
    return Decimal(str(settings.PAYOUT_MINIMUMS.get(currency, "0")))


def resolve_rule(*, profile: FeeProfile | None, operation: str, currency: str) -> FeeRule | None:
    """The profile's rule for ``operation`` in ``currency``: the currency's own rule when there
    is one, else the "any currency" rule, else None (one query)."""
    if profile is None:
        return None
    rules = list(
        FeeRule.objects.filter(profile=profile, operation=operation, currency__in=[currency, ""])
    )
    rules.sort(key=lambda rule: rule.currency == "")  # the specific rule first
    return rules[0] if rules else None


@dataclass(frozen=True)
class FeeQuote:
    operation: str
    currency: str
    amount: Decimal
    fee: Decimal
    rule: FeeRule | None
    minimum_payout: Decimal

    @property
    def total(self) -> Decimal:
        """What a payout of ``amount`` takes from the balance."""
        return self.amount + self.fee

    @property
    def uses_platform_default(self) -> bool:
        return self.rule is None

    @property
    def source(self) -> str:
        if self.rule is None:
            return "platform default"
        return f"rule for {self.rule.currency or 'any currency'}"


def minimum_payout_for(*, rule: FeeRule | None, currency: str) -> Decimal:
    """A payout rule's own minimum when it sets one, the platform default otherwise."""
    if rule is not None and rule.minimum_payout_amount is not None:
        return rule.minimum_payout_amount
    return platform_minimum_payout(currency)


def quote(
    *, profile: FeeProfile | None, operation: str, currency: str, amount: Decimal
) -> FeeQuote:
    """The fee of ``operation`` for ``amount`` in ``currency`` under ``profile``.

    ``amount`` must already be validated (``currencies.parse_amount``)."""
    rule = resolve_rule(profile=profile, operation=operation, currency=currency)
    return quote_with_rule(rule=rule, operation=operation, currency=currency, amount=amount)


def quote_with_rule(
    *, rule: FeeRule | None, operation: str, currency: str, amount: Decimal
) -> FeeQuote:
    """:func:`quote` with the rule already resolved (the payout path reads it in the same
    statement as the service)."""
    if rule is None:
        fee = compute_fee(amount=amount, currency=currency)
    else:
        fee = compute_fee(
            amount=amount,
            currency=currency,
            percentage=rule.percentage,
            fixed_amount=rule.fixed_amount,
            minimum_fee=rule.minimum_fee,
            maximum_fee=rule.maximum_fee,
        )
    minimum = (
        minimum_payout_for(rule=rule, currency=currency)
        if operation == FeeRule.Operation.PAYOUT
        else ZERO
    )
    return FeeQuote(
        operation=operation,
        currency=currency,
        amount=amount,
        fee=fee,
        rule=rule,
        minimum_payout=minimum,
    )


def describe_rule(rule: FeeRule) -> str:
    """The rule as one line of the formula ("1.75 % + 0.25, at least 0.50, at most 10.00")."""
    code = rule.currency
    parts = [f"{rule.percentage.normalize():f} %"]
    if rule.fixed_amount:
        parts.append(f"+ {_shown(rule.fixed_amount, code)}")
    text = " ".join(parts)
    if rule.minimum_fee:
        text += f", at least {_shown(rule.minimum_fee, code)}"
    if rule.maximum_fee is not None:
        text += f", at most {_shown(rule.maximum_fee, code)}"
    return text


def _shown(value: Decimal, code: str) -> str:
    if code:
        return currencies.format_amount(value, code)
    return f"{value.normalize():f}"


def plain_figure(value: Decimal, code: str) -> str:
    """A rule's figure as plain digits (forms, the API): with the currency's digits for a
    currency's rule ("8400.00"), as entered for "any currency"."""
    if code:
        return currencies.plain_amount(value, code)
    return f"{value.normalize():f}"


def platform_minimums() -> dict[str, Decimal]:
    """The platform's default minimum payout per currency (others: no minimum)."""
    return {code: Decimal(str(value)) for code, value in settings.PAYOUT_MINIMUMS.items()}


def rule_figures(rule: FeeRule) -> dict[str, str]:
    """The rule's figures as shown on the pages ("" for an unset optional figure)."""

    def shown(value: Decimal | None) -> str:
        return "" if value is None else _shown(value, rule.currency)

    return {
        "percentage": f"{rule.percentage.normalize():f}",
        "fixed_amount": shown(rule.fixed_amount),
        "minimum_fee": shown(rule.minimum_fee),
        "maximum_fee": shown(rule.maximum_fee),
        "minimum_payout_amount": shown(rule.minimum_payout_amount),
        "formula": describe_rule(rule),
    }


def quote_request(
    *, profile: FeeProfile | None, operation: object, currency: object, amount: object
) -> FeeQuote:
    """:func:`quote` for raw input (the API's and the calculator's): refuses an unknown
    operation or currency and an amount too precise for its currency, never rounds."""
    op = clean_operation(operation)
    code = currencies.clean_code(currency)
    value = currencies.clean_amount(amount, code)
    if value < 0:
        raise ValidationFailed("The amount cannot be negative.", field="amount")
    return quote(profile=profile, operation=op, currency=code, amount=value)


# --- what a valid rule is -----------------------------------------------------------------

PERCENTAGE_PLACES = 4
ANY_CURRENCY_WORDS = {"", "ANY", "*"}


@dataclass(frozen=True)
class RuleInput:
    """A validated rule: what ``clean_rule`` returns and the rule actions store."""

    operation: str
    currency: str
    percentage: Decimal
    fixed_amount: Decimal
    minimum_fee: Decimal
    maximum_fee: Decimal | None
    minimum_payout_amount: Decimal | None


def _decimal(raw: object, *, field: str, label: str) -> Decimal:
    try:
        value = currencies.parse_decimal(raw)
    except currencies.AmountError as exc:
        raise ValidationFailed(f"{label}: {exc}", field=field) from None
    if value < 0:
        raise ValidationFailed(f"{label} cannot be negative.", field=field)
    return value


def _money(raw: object, *, field: str, label: str, currency: str) -> Decimal:
    value = _decimal(raw, field=field, label=label)
    if value > currencies.MAX_ABS_AMOUNT:
        raise ValidationFailed(f"{label} is too large.", field=field)
    if currency:
        try:
            return currencies.check_precision(value, currency)
        except currencies.AmountError as exc:
            raise ValidationFailed(f"{label}: {exc}", field=field) from None
    # "Any currency": the storage precision is the limit; compute_fee brings the bounds onto
    # each currency's grid.
    if value != value.quantize(Decimal(1).scaleb(-currencies.STORAGE_DECIMAL_PLACES)):
        raise ValidationFailed(
            f"{label} has at most {currencies.STORAGE_DECIMAL_PLACES} decimal places.",
            field=field,
        )
    return value


def _optional_money(raw: object, **kwargs: Any) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return _money(raw, **kwargs)


def clean_currency(raw: object) -> str:
    """A rule's currency: a known code, or "" for any currency (also "any" and "*")."""
    code = currencies.normalise_code(raw)
    if code in ANY_CURRENCY_WORDS:
        return ""
    if not currencies.is_known(code):
        raise ValidationFailed(f"{code!r} is not a known currency.", field="currency")
    return code


def clean_operation(raw: object) -> str:
    operation = str(raw or "").strip().lower()
    if operation not in FeeRule.Operation.values:
        raise ValidationFailed(
            f"Operation must be one of {', '.join(FeeRule.Operation.values)}.", field="operation"
        )
    return operation


def clean_rule(
    *,
    operation: object,
    currency: object = "",
    percentage: object = 0,
    fixed_amount: object = 0,
    minimum_fee: object = 0,
    maximum_fee: object = None,
    minimum_payout_amount: object = None,
) -> RuleInput:
    op = clean_operation(operation)
    code = clean_currency(currency)
    pct = _decimal(
        0 if percentage is None or percentage == "" else percentage,
        field="percentage",
        label="Percentage",
    )
    if pct > 100:
        raise ValidationFailed("Percentage cannot exceed 100.", field="percentage")
    if pct != pct.quantize(Decimal(1).scaleb(-PERCENTAGE_PLACES)):
        raise ValidationFailed(
            f"Percentage has at most {PERCENTAGE_PLACES} decimal places.", field="percentage"
        )
    fixed = _money(
        0 if fixed_amount in (None, "") else fixed_amount,
        field="fixed_amount",
        label="Fixed amount",
        currency=code,
    )
    low = _money(
        0 if minimum_fee in (None, "") else minimum_fee,
        field="minimum_fee",
        label="Minimum fee",
        currency=code,
    )
    high = _optional_money(maximum_fee, field="maximum_fee", label="Maximum fee", currency=code)
    if high is not None and high < low:
        raise ValidationFailed(
            "The maximum fee cannot be lower than the minimum fee.", field="maximum_fee"
        )
    min_payout = _optional_money(
        minimum_payout_amount,
        field="minimum_payout_amount",
        label="Minimum payout amount",
        currency=code,
    )
    if min_payout is not None and op != FeeRule.Operation.PAYOUT:
        raise ValidationFailed(
            "A minimum payout amount applies to payout rules only.", field="minimum_payout_amount"
        )
    return RuleInput(op, code, pct, fixed, low, high, min_payout)
