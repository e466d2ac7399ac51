"""Currencies, their precision and how amounts are parsed and shown.

No database: these are the rules every amount passes through before it reaches one.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from djmoney.money import Money

from core.money import currencies
from core.money.forms import parse_user_amount
from core.templatetags.money import amount as amount_filter
from core.templatetags.money import money


@pytest.mark.parametrize(
    ("code", "decimals"),
    [
        ("EUR", 2),
        ("USD", 2),
        ("GBP", 2),
        ("NGN", 2),
        ("JPY", 0),
        ("KWD", 3),
        ("USDT_TRC20", 8),
        ("USDT_ERC20", 8),
    ],
)
def test_each_currency_has_its_minor_units(code, decimals):
    assert currencies.is_known(code)
    assert currencies.decimals_of(code) == decimals


def test_crypto_assets_are_registered_and_flagged():
    info = currencies.get("USDT_TRC20")
    assert info.is_crypto
    assert info.name == "Tether USD (TRC-20)"
    assert not currencies.get("EUR").is_crypto
    # Registered with py-moneyed too, so django-money can build values in it.
    assert Money("1.00000001", "USDT_TRC20").amount == Decimal("1.00000001")


@pytest.mark.parametrize("code", ["ABC", "EURO", "", "usdt"])
def test_unknown_codes_are_not_currencies(code):
    assert not currencies.is_known(code)
    with pytest.raises(currencies.AmountError):
        currencies.get(code)
    with pytest.raises(currencies.AmountError):
        currencies.parse_amount("1", code)


@pytest.mark.parametrize(
    ("raw", "code", "expected"),
    [
        ("10.00", "EUR", Decimal("10.00")),
        ("10.5", "EUR", Decimal("10.5")),
        ("12500.75", "EUR", Decimal("12500.75")),
        ("5000", "JPY", Decimal("5000")),
        # Trailing zeros do not change the value, so they are harmless.
        ("5000.000", "JPY", Decimal("5000")),
        ("1234.567", "KWD", Decimal("1234.567")),
        ("0.12345678", "USDT_TRC20", Decimal("0.12345678")),
        ("0.00000001", "USDT_ERC20", Decimal("0.00000001")),
        (7, "JPY", Decimal(7)),
        (Decimal("3.14"), "EUR", Decimal("3.14")),
    ],
)
def test_amounts_within_the_currency_precision_are_kept_exactly(raw, code, expected):
    value = currencies.parse_amount(raw, code)
    assert isinstance(value, Decimal)
    assert value == expected


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        ("10.005", "EUR", "EUR amounts have at most 2 decimal places"),
        ("0.001", "USD", "USD amounts have at most 2 decimal places"),
        ("1.5", "JPY", "JPY amounts are whole numbers"),
        ("1.0001", "KWD", "KWD amounts have at most 3 decimal places"),
        ("0.123456789", "USDT_TRC20", "USDT_TRC20 amounts have at most 8 decimal places"),
        (Decimal("10.005"), "EUR", "at most 2 decimal places"),
    ],
)
def test_too_precise_amounts_are_refused_never_rounded(raw, code, message):
    with pytest.raises(currencies.AmountError) as exc:
        currencies.parse_amount(raw, code)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("raw", "code", "expected"),
    [
        ("-120.00", "USD", Decimal("-120.00")),
        ("-5000", "JPY", Decimal("-5000")),
        ("-0.5", "USDT_TRC20", Decimal("-0.5")),
    ],
)
def test_negative_amounts_are_allowed(raw, code, expected):
    assert currencies.parse_amount(raw, code) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (1.5, "decimal string"),
        (True, "must be a number"),
        (None, "required"),
        ("", "required"),
        ("  ", "required"),
        ("ten", "is not a number"),
        ("NaN", "is not a number"),
        ("Infinity", "is not a number"),
        ("1" + "0" * 20, "too large"),
        # An exponent is never a plain decimal (and 1e30 is beyond storage anyway).
        ("1e30", "no exponent"),
        ("1_000", "is not a number"),
        ("\u0661\u0662\u0663", "is not a number"),  # Arabic-Indic digits
        ("\uff11\uff12\uff13", "is not a number"),  # fullwidth digits
        ("+5", "is not a number"),
        ("-1" + "0" * 27, "too large"),
    ],
)
def test_non_amounts_are_refused_with_a_reason(raw, fragment):
    with pytest.raises(currencies.AmountError) as exc:
        currencies.parse_amount(raw, "EUR")
    assert fragment in str(exc.value)


@pytest.mark.parametrize(
    ("value", "code", "shown"),
    [
        (Decimal("12500.75"), "EUR", "12,500.75"),
        # As read back from the database: an AmountField gives 8 places.
        (Decimal("12500.75000000"), "EUR", "12,500.75"),
        (Decimal("8400"), "USD", "8,400.00"),
        (Decimal("5000"), "JPY", "5,000"),
        (Decimal("5000.00000000"), "JPY", "5,000"),
        (Decimal("1234.567"), "KWD", "1,234.567"),
        (Decimal("15000.1"), "KWD", "15,000.100"),
        (Decimal("512.00000001"), "USDT_TRC20", "512.00000001"),
        (Decimal("500"), "USDT_TRC20", "500.00000000"),
        (Decimal("1250000"), "NGN", "1,250,000.00"),
        (Decimal("0"), "EUR", "0.00"),
    ],
)
def test_amounts_are_formatted_with_the_currency_digits_and_grouping(value, code, shown):
    assert currencies.format_amount(value, code) == shown


def test_negative_amounts_are_formatted_with_a_real_minus_sign():
    assert currencies.format_amount(Decimal("-120.00"), "USD") == "\u2212120.00"
    assert currencies.format_amount(Decimal("-1250000"), "JPY") == "\u22121,250,000"


def test_a_value_finer_than_the_currency_is_shown_in_full_not_rounded():
    # A provider may report more digits than ISO 4217 allows; the page must not hide them.
    assert currencies.format_amount(Decimal("10.005"), "EUR") == "10.005"


def test_plain_amount_has_no_grouping_and_an_ascii_minus():
    assert currencies.plain_amount(Decimal("-12500.75000000"), "EUR") == "-12500.75"
    assert currencies.plain_amount(Decimal("5000"), "JPY") == "5000"


def test_money_tag_marks_negative_amounts():
    html = str(money(Decimal("-120.00"), "USD"))
    assert 'class="amount negative"' in html
    assert "\u2212120.00" in html
    assert 'class="amount"' in str(money(Decimal("120.00"), "USD"))
    assert "muted" in str(money(None, "USD"))
    # JSON results carry amounts as strings; they are parsed exactly.
    assert "1,234.567" in str(money("1234.567", "KWD", True))
    assert amount_filter(Decimal("5000"), "JPY") == "5,000"


def test_minor_units_are_converted_exactly():
    assert currencies.from_minor_units(1050, "EUR") == Decimal("10.50")
    assert currencies.from_minor_units(1050, "JPY") == Decimal("1050")
    assert currencies.from_minor_units(1234567, "KWD") == Decimal("1234.567")


def test_currency_choices_leave_out_the_given_codes_and_offer_common_ones_first():
    choices = currencies.currency_choices(exclude={"EUR", "JPY"})
    codes = [code for code, _label in choices]
    assert "EUR" not in codes
    assert "JPY" not in codes
    assert codes[:3] == ["USD", "GBP", "NGN"]
    assert "USDT_TRC20" in codes
    assert "USDT_ERC20" in codes
    assert len(codes) == len(set(codes))
    assert dict(choices)["KWD"] == "KWD — Kuwaiti Dinar"


@pytest.mark.parametrize(
    ("raw", "code", "expected"),
    [
        ("12,500.75", "EUR", Decimal("12500.75")),
        (" 1 000 ", "JPY", Decimal("1000")),
        ("\u2212120.50", "USD", Decimal("-120.50")),
        ("1,234.567", "KWD", Decimal("1234.567")),
    ],
)
def test_operators_may_type_grouping_separators(raw, code, expected):
    assert parse_user_amount(raw, code) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [("12,50", "EUR"), ("1,5", "JPY"), ("12,500.755", "EUR")],
)
def test_a_comma_is_never_read_as_a_decimal_separator(raw, code):
    with pytest.raises(currencies.AmountError):
        parse_user_amount(raw, code)
