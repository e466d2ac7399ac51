"""The fee formula (services/fees.py): examples, properties (hypothesis) and rule resolution."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from django.conf import settings
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from core.errors import ValidationFailed
from core.money import currencies
from services.fees import formula as fees
from tests.factories import FeeProfileFactory

D = Decimal
CODES = ["EUR", "JPY", "KWD", "USD", "USDT_TRC20"]


# --- examples -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "pct", "fixed", "low", "high", "expected"),
    [
        ("100.00", "EUR", "1.5", "0.25", "0", None, "1.75"),  # the example
        ("1.00", "EUR", "12.5", "0", "0", None, "0.13"),  # 0.125: half-up, not half-even
        ("1.00", "EUR", "11.5", "0", "0", None, "0.12"),  # 0.115 -> 0.12 (half-up)
        ("1.00", "EUR", "0.4", "0", "0", None, "0.00"),  # 0.004 rounds down
        ("100", "JPY", "2.5", "0", "0", None, "3"),  # 2.5 yen -> 3 (half-even would say 2)
        ("100", "JPY", "1.4", "0", "0", None, "1"),
        ("1.000", "KWD", "0.05", "0", "0", None, "0.001"),  # 0.0005 -> 0.001
        ("10.00", "EUR", "1", "0", "0.50", None, "0.50"),  # raised to the minimum
        ("10000.00", "EUR", "1.5", "0.25", "0.50", "10.00", "10.00"),  # capped at the maximum
        ("0.01", "EUR", "0", "0", "0", None, "0.00"),
        ("123.45678901", "USDT_TRC20", "0.3333", "0", "0", None, "0.41148148"),  # 0.411481477…
    ],
)
def test_fee_examples(amount, currency, pct, fixed, low, high, expected):
    fee = fees.compute_fee(
        amount=D(amount),
        currency=currency,
        percentage=D(pct),
        fixed_amount=D(fixed),
        minimum_fee=D(low),
        maximum_fee=None if high is None else D(high),
    )
    assert fee == D(expected)
    assert str(fee) == expected  # written with exactly the currency's digits


def test_bounds_finer_than_the_currency_stay_bounds():
    """An "any currency" rule with a 0.5 minimum, applied to JPY: the fee is 1 yen, never
    0 (below the minimum)."""
    fee = fees.compute_fee(amount=D(10), currency="JPY", minimum_fee=D("0.5"))
    assert fee == D(1)
    capped = fees.compute_fee(
        amount=D(1000), currency="JPY", percentage=D(10), maximum_fee=D("2.5")
    )
    assert capped == D(2)  # at most 2.5 yen: 2 yen, not 3


def test_platform_minimums_are_syncpays_documented_ones():
    assert {k: D(v) for k, v in settings.PAYOUT_MINIMUMS.items()} == {
        "USD": D(10),
        "NGN": D(5000),
        "GHS": D(50),
        "KES": D(500),
        "USDT_TRC20": D(10),
        "USDT_ERC20": D(50),
    }
    assert fees.platform_minimum_payout("EUR") == 0


# --- properties ---------------------------------------------------------------------------


def _units(currency: str, max_units: int = 10**12):
    q = currencies.get(currency).quantum
    return st.integers(min_value=0, max_value=max_units).map(lambda n: D(n) * q)


@st.composite
def fee_cases(draw):
    code = draw(st.sampled_from(CODES))
    amount = draw(_units(code).filter(lambda a: a > 0))
    pct = D(draw(st.integers(min_value=0, max_value=100 * 10**4))).scaleb(-4)
    fixed = draw(_units(code, 10**6))
    low = draw(_units(code, 10**6))
    high = draw(st.none() | _units(code, 10**7).map(lambda h: h + low))
    return code, amount, pct, fixed, low, high


def oracle(code, amount, pct, fixed, low, high) -> Decimal:
    """The formula with exact fractions and an explicit half-up, independently of Decimal
    contexts and quantize."""
    raw = Fraction(pct) * Fraction(amount) / 100 + Fraction(fixed)
    raw = max(raw, Fraction(low))
    if high is not None:
        raw = min(raw, Fraction(high))
    q = Fraction(currencies.get(code).quantum)
    units = math.floor(raw / q + Fraction(1, 2))  # half-up for non-negative values
    return D(units) * currencies.get(code).quantum


def _fee(code, amount, pct, fixed, low, high) -> Decimal:
    return fees.compute_fee(
        amount=amount,
        currency=code,
        percentage=pct,
        fixed_amount=fixed,
        minimum_fee=low,
        maximum_fee=high,
    )


@hsettings(max_examples=300, deadline=None)
@given(fee_cases())
@example(("EUR", D("1.00"), D("12.5"), D(0), D(0), None))
@example(("JPY", D(100), D("2.5"), D(0), D(0), None))
def test_fee_is_exact_half_up_and_within_bounds(case):
    code, amount, pct, fixed, low, high = case
    fee = _fee(*case)
    quantum = currencies.get(code).quantum
    assert fee >= low, "never below the minimum"
    if high is not None:
        assert fee <= high, "never above the maximum"
    assert fee == fee.quantize(quantum), "exact in minor units"
    assert fee.as_tuple().exponent == quantum.as_tuple().exponent
    assert fee == oracle(code, amount, pct, fixed, low, high), "half-up rounding"


@hsettings(max_examples=200, deadline=None)
@given(fee_cases())
def test_fee_never_decreases_when_the_amount_grows(case):
    code, amount, pct, fixed, low, high = case
    bigger = amount + currencies.get(code).quantum
    assert _fee(code, bigger, pct, fixed, low, high) >= _fee(*case)


@hsettings(max_examples=200, deadline=None)
@given(
    code=st.sampled_from(CODES),
    low=st.integers(min_value=0, max_value=10**9).map(lambda n: D(n).scaleb(-8)),
    spread=st.integers(min_value=0, max_value=10**9).map(lambda n: D(n).scaleb(-8)),
    pct=st.integers(min_value=0, max_value=10**6).map(lambda n: D(n).scaleb(-4)),
    units=st.integers(min_value=1, max_value=10**10),
)
def test_any_currency_bounds_hold_for_every_currency(code, low, spread, pct, units):
    """Rules for "any currency" may carry 8 decimal places; the fee still respects them."""
    high = low + spread
    amount = D(units) * currencies.get(code).quantum
    fee = fees.compute_fee(
        amount=amount, currency=code, percentage=pct, minimum_fee=low, maximum_fee=high
    )
    assert fee == fee.quantize(currencies.get(code).quantum)
    assert fee >= low or (fee <= high and high - low < currencies.get(code).quantum)
    assert fee <= high or (high - low < currencies.get(code).quantum)


# --- rule resolution ----------------------------------------------------------------------


def _profile(*rules):
    return FeeProfileFactory(rules=list(rules))


@pytest.mark.django_db
def test_the_currencys_rule_wins_over_the_any_currency_rule():
    profile = _profile(
        {"operation": "payout", "currency": "EUR", "percentage": "1"},
        {"operation": "payout", "currency": "", "percentage": "2"},
    )
    eur = fees.quote(profile=profile, operation="payout", currency="EUR", amount=D("100.00"))
    usd = fees.quote(profile=profile, operation="payout", currency="USD", amount=D("100.00"))
    assert (eur.fee, eur.rule.currency) == (D("1.00"), "EUR")
    assert (usd.fee, usd.rule.currency) == (D("2.00"), "")


@pytest.mark.django_db
def test_without_a_rule_the_platform_defaults_apply():
    profile = _profile({"operation": "payin", "currency": "USD", "percentage": "3"})
    quote = fees.quote(profile=profile, operation="payout", currency="USD", amount=D("50.00"))
    assert quote.fee == D("0.00") and quote.rule is None
    assert quote.minimum_payout == D(10)
    none = fees.quote(profile=None, operation="payout", currency="NGN", amount=D("100.00"))
    assert (none.fee, none.minimum_payout, none.source) == (D("0.00"), D(5000), "platform default")


@pytest.mark.django_db
def test_a_rules_minimum_payout_replaces_the_platform_default_only_when_set():
    profile = _profile(
        {"operation": "payout", "currency": "USD", "percentage": "1"},
        {"operation": "payout", "currency": "GHS", "minimum_payout_amount": "20.00"},
    )
    usd = fees.quote(profile=profile, operation="payout", currency="USD", amount=D("1.00"))
    ghs = fees.quote(profile=profile, operation="payout", currency="GHS", amount=D("1.00"))
    assert usd.minimum_payout == D(10)
    assert ghs.minimum_payout == D("20.00")


@pytest.mark.django_db
def test_quote_request_refuses_bad_input_and_never_rounds():
    profile = _profile({"operation": "payout", "currency": "EUR", "percentage": "1.5"})
    with pytest.raises(ValidationFailed) as exc:
        fees.quote_request(profile=profile, operation="payout", currency="EUR", amount="1.005")
    assert exc.value.field == "amount"
    with pytest.raises(ValidationFailed):
        fees.quote_request(profile=profile, operation="wire", currency="EUR", amount="1")
    with pytest.raises(ValidationFailed):
        fees.quote_request(profile=profile, operation="payout", currency="XXQ", amount="1")
    with pytest.raises(ValidationFailed):
        fees.quote_request(profile=profile, operation="payout", currency="EUR", amount="-1")
    ok = fees.quote_request(profile=profile, operation="PAYOUT", currency="eur", amount="100")
    assert (ok.currency, ok.fee) == ("EUR", D("1.50"))


def test_rule_description_reads_like_the_formula():
    from services.models import FeeRule

    rule = FeeRule(
        operation="payout",
        currency="EUR",
        percentage=D("1.5000"),
        fixed_amount=D("0.25"),
        minimum_fee=D("0.5"),
        maximum_fee=D("10"),
    )
    assert fees.describe_rule(rule) == "1.5 % + 0.25, at least 0.50, at most 10.00"
