"""Hostile and careless input through HTTP, API and pages: every case is a clear 4xx naming
what is wrong, and nothing changes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances.models import Balance, BalanceChange
from core.money import currencies
from services.models import FeeRule
from tests.config.helpers import assert_error, send
from tests.factories import BalanceFactory

# One more integer digit than storage keeps.
BEYOND_STORAGE = str(int(currencies.MAX_ABS_AMOUNT) * 10 + 9)

pytestmark = pytest.mark.django_db


def balances_url(service) -> str:
    return f"/api/v1/services/{service.public_id}/balances"


def snapshot(service) -> tuple:
    """Everything a refused write could have touched."""
    return (
        sorted(Balance.objects.filter(service=service).values_list("currency", "available")),
        BalanceChange.objects.filter(service=service).count(),
    )


# --- JSON bodies ----------------------------------------------------------------------------

MALFORMED_BODIES = {
    "number beyond any decimal context": '{"currency": "EUR", "amount": 1e999999999999999999999}',
    "duplicated key": '{"currency": "EUR", "amount": "1", "amount": "999"}',
    "deep nesting": "[" * 100_000,
    "NUL in a string": '{"currency": "EUR\\u0000", "amount": "1"}',
    "NaN": '{"currency": "EUR", "amount": NaN}',
    "huge integer literal": '{"currency": "EUR", "amount": ' + "9" * 5000 + "}",
    "not UTF-8": b'{"currency": "EUR", "amount": "1\xff"}',
}


@pytest.mark.parametrize("raw", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_malformed_json_is_a_parse_error_and_changes_nothing(operator_api, service, raw):
    before = snapshot(service)

    response = operator_api.post(balances_url(service), raw, content_type="application/json")

    assert_error(response, 400, "parse_error")
    assert snapshot(service) == before


def test_an_unknown_charset_is_refused_with_415(operator_api, service):
    # generic(): the test client's post() would itself choke on encoding for rot13.
    response = operator_api.generic(
        "POST",
        balances_url(service),
        b'{"currency": "EUR", "amount": "1"}',
        content_type="application/json; charset=rot13",
    )

    assert_error(response, 415, "unsupported_media_type")
    assert snapshot(service) == ([], 0)


def test_a_latin1_charset_is_refused_too(operator_api, service):
    response = operator_api.post(
        balances_url(service),
        b'{"currency": "EUR", "amount": "1"}',
        content_type="application/json; charset=latin-1",
    )

    assert_error(response, 415)


def test_a_body_over_the_limit_is_413(operator_api, service, settings):
    settings.API_MAX_BODY_BYTES = 1000
    raw = '{"currency": "EUR", "amount": "1", "pad": "' + "x" * 2000 + '"}'

    response = operator_api.post(balances_url(service), raw, content_type="application/json")

    assert_error(response, 413, "body_too_large")
    assert snapshot(service) == ([], 0)


# --- Amounts --------------------------------------------------------------------------------

BAD_AMOUNTS = {
    "exponent number": "1e5",
    "exponent string": '"1e5"',
    "tiny exponent": '"0E-16384"',
    "tiny exponent number": "0E-16384",
    "arabic-indic digits": '"\u0661\u0662\u0663"',
    "fullwidth digits": '"\uff11\uff12\uff13"',
    "underscores": '"1_000"',
    "plus sign": '"+5"',
    "more integer digits than storage": f'"{BEYOND_STORAGE}"',
    "more integer digits as a number": BEYOND_STORAGE,
    "too precise": '"1.234"',
    "a float-looking infinity": '"Infinity"',
    "a list": "[1]",
    "true": "true",
}


@pytest.mark.parametrize("amount", BAD_AMOUNTS.values(), ids=BAD_AMOUNTS.keys())
def test_bad_amounts_on_create_name_the_field(operator_api, service, amount):
    raw = '{"currency": "EUR", "amount": ' + amount + "}"

    response = operator_api.post(balances_url(service), raw, content_type="application/json")

    error = assert_error(response, 400, "validation_error")
    assert "amount" in error["details"], error
    assert snapshot(service) == ([], 0)


@pytest.mark.parametrize("amount", BAD_AMOUNTS.values(), ids=BAD_AMOUNTS.keys())
def test_bad_amounts_on_edit_name_the_field(operator_api, service, amount):
    BalanceFactory(service=service, currency="EUR", available=Decimal("10.00"))
    before = snapshot(service)
    raw = '{"amount": ' + amount + ', "reason": "test"}'

    response = operator_api.patch(
        f"{balances_url(service)}/EUR", raw, content_type="application/json"
    )

    error = assert_error(response, 400, "validation_error")
    assert "amount" in error["details"], error
    assert snapshot(service) == before


def test_the_largest_storable_amount_is_accepted(operator_api, service):
    response = send(
        operator_api,
        "post",
        balances_url(service),
        f'{{"currency": "USDT_TRC20", "amount": "{currencies.MAX_ABS_AMOUNT}"}}',
    )

    assert response.status_code == 201, response.content
    balance = Balance.objects.get(service=service, currency="USDT_TRC20")
    assert balance.available == currencies.MAX_ABS_AMOUNT


# --- Currency codes -------------------------------------------------------------------------

BAD_CODES = {
    "long s look-alike": "u\u017fd",
    "trailing newline": "CHF\n",
    "no currency": "XXX",
    "testing code": "XTS",
    "special drawing rights": "XDR",
    "gold": "XAU",
    "silver": "XAG",
    "empty": "",
    "unknown": "ABC",
    "NUL": "EUR\x00",
}


@pytest.mark.parametrize("code", BAD_CODES.values(), ids=BAD_CODES.keys())
def test_currency_codes_are_matched_exactly(operator_api, service, code):
    response = send(operator_api, "post", balances_url(service), {"currency": code, "amount": "1"})

    assert response.status_code == 400, response.content
    assert snapshot(service) == ([], 0)


def test_surrounding_spaces_and_lower_case_ascii_are_fine(operator_api, service):
    response = send(
        operator_api, "post", balances_url(service), {"currency": " eur ", "amount": "1"}
    )

    assert response.status_code == 201, response.content
    assert Balance.objects.filter(service=service, currency="EUR").exists()


# --- Other write paths ----------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1e3", f'"{BEYOND_STORAGE}"', '"\uff15"'])
def test_fee_rules_refuse_bad_amounts(admin_api, amount):
    created = send(admin_api, "post", "/api/v1/fee-profiles", {"name": "Hostile"})
    assert created.status_code == 201, created.content
    profile_id = created.json()["id"]
    raw = '{"operation": "payout", "currency": "EUR", "fixedAmount": ' + amount + "}"

    response = admin_api.post(
        f"/api/v1/fee-profiles/{profile_id}/rules", raw, content_type="application/json"
    )

    error = assert_error(response, 400, "validation_error")
    assert "fixedAmount" in error["details"], error
    assert not FeeRule.objects.filter(profile_id=profile_id).exists()


@pytest.mark.parametrize("amount", ["1e3", f'"{BEYOND_STORAGE}"', '"1_0"'])
def test_payouts_refuse_bad_amounts(operator_api, service, amount):
    BalanceFactory(service=service, currency="EUR", available=Decimal("1000.00"))
    raw = '{"currency": "EUR", "destination": "IBAN DE00", "amount": ' + amount + "}"

    response = operator_api.post(
        f"/api/v1/services/{service.public_id}/payouts", raw, content_type="application/json"
    )

    error = assert_error(response, 400, "validation_error")
    assert "amount" in error["details"], error
    assert not service.payouts.exists()


# --- NUL in paths and query strings --------------------------------------------------------

API_NUL_PATHS = [
    "/api/v1/payouts/%00",
    "/api/v1/sync-runs/%00",
    "/api/v1/services/%00/balances",
    "/api/v1/services/{sid}/balances/%00/history",
    "/api/v1/services/{sid}/balances/EUR%00",
    "/api/v1/services/{sid}/payouts?status=%00",
]


@pytest.mark.parametrize("path", API_NUL_PATHS)
def test_nul_in_an_api_path_is_a_404_envelope(viewer_api, service, path):
    response = viewer_api.get(path.format(sid=service.public_id))

    assert_error(response, 404, "not_found")


PAGE_NUL_PATHS = [
    "/services/%00/",
    "/services/{sid}/sync-runs/%00/",
    "/services/{sid}/payouts/po_%00/",
    "/services/{sid}/balances/%00/history/",
    "/services/{sid}/balances/?run=%00",
    "/services/?q=%00",
    "/fee-profiles/?q=%00",
]


@pytest.mark.parametrize("path", PAGE_NUL_PATHS)
def test_nul_in_a_page_path_is_a_404_page(viewer_client, service, path):
    response = viewer_client.get(path.format(sid=service.public_id))

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- Pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", ["1e5", "\u0661\u0662\u0663", "1_000", BEYOND_STORAGE, "0E-16384"]
)
def test_balance_form_refuses_bad_amounts_with_a_field_error(operator_client, service, amount):
    response = operator_client.post(
        f"/services/{service.public_id}/balances/add/", {"currency": "EUR", "amount": amount}
    )

    assert response.status_code in (200, 400)
    assert "amount" in response.context["form"].errors
    assert snapshot(service) == ([], 0)


def test_balance_form_accepts_an_operators_grouping(operator_client, service):
    response = operator_client.post(
        f"/services/{service.public_id}/balances/add/", {"currency": "EUR", "amount": "1,000.50"}
    )

    assert response.status_code == 302
    assert Balance.objects.get(service=service, currency="EUR").available == Decimal("1000.50")


@pytest.mark.parametrize("code", ["XXX", "XAU", "u\u017fd", "CHF\n"])
def test_balance_form_refuses_codes_that_are_not_money(operator_client, service, code):
    response = operator_client.post(
        f"/services/{service.public_id}/balances/add/", {"currency": code, "amount": "1"}
    )

    assert "currency" in response.context["form"].errors
    assert snapshot(service) == ([], 0)
