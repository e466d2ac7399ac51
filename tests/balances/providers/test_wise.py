from __future__ import annotations

import json
from decimal import Decimal

import pytest

from balances.providers.base import ConnectionConfig, ErrorCategory, ProviderError, get_adapter
from balances.providers.wise import WiseAdapter

TOKEN = "f1e2d3c4-b5a6-4789-8abc-def012345678"
PROFILE = "12345678"
PATH = f"/v4/profiles/{PROFILE}/balances"


def money(value: str, currency: str) -> str:
    # Written by hand so that the server sends exactly these digits as a JSON number.
    return f'{{"value": {value}, "currency": "{currency}"}}'


def balance_json(
    id_, currency, type_="STANDARD", amount="0", reserved="0", name=None, cash=None, worth=None
) -> str:
    fields = [
        f'"id": {id_}',
        f'"currency": "{currency}"',
        f'"type": "{type_}"',
        f'"name": {json.dumps(name)}',
        '"icon": null',
        '"investmentState": "NOT_INVESTED"',
        f'"amount": {money(amount, currency)}',
        f'"reservedAmount": {money(reserved, currency)}',
        f'"cashAmount": {money(cash or amount, currency)}',
        f'"totalWorth": {money(worth or amount, currency)}',
        '"creationTime": "2020-05-20T14:43:16.658Z"',
        '"modificationTime": "2020-05-20T14:43:16.658Z"',
        '"visible": true',
    ]
    return "{" + ", ".join(fields) + "}"


def answer(*balances: str) -> str:
    return "[" + ", ".join(balances) + "]"


def fetch(server, **options):
    config = ConnectionConfig(
        kind="wise",
        base_url=server.url,
        credentials={"apiToken": TOKEN},
        options={"profileId": PROFILE, **options},
    )
    return get_adapter("wise").fetch_snapshot(config)


def fetch_error(server, **options) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        fetch(server, **options)
    return info.value


def test_documented_balance_object_and_request(provider_server):
    provider_server.route(PATH, answer(balance_json(200001, "EUR")))
    snapshot = fetch(provider_server)
    request = provider_server.last
    assert request.path == PATH
    assert request.raw_query == "types=STANDARD"
    assert request.header("Authorization") == f"Bearer {TOKEN}"
    assert request.header("Accept") == "application/json"
    eur = snapshot.by_currency()["EUR"]
    assert eur.available == 0 and eur.reserved == 0 and eur.pending == 0


def test_json_numbers_are_exact_decimals(provider_server):
    provider_server.route(
        PATH,
        answer(
            balance_json(1, "GBP", amount="10000594.71", reserved="0.1", cash="10000594.81"),
            balance_json(2, "EUR", amount="9998887.01", reserved="113.48", worth="9999000.49"),
        ),
    )
    figures = fetch(provider_server).by_currency()
    assert figures["GBP"].available == Decimal("10000594.71")
    assert figures["GBP"].reserved == Decimal("0.1")
    assert figures["GBP"].extras["cash"] == Decimal("10000594.81")
    assert figures["EUR"].available == Decimal("9998887.01")
    assert figures["EUR"].reserved == Decimal("113.48")
    assert figures["EUR"].extras["totalWorth"] == Decimal("9999000.49")
    assert [f.currency for f in fetch(provider_server).figures] == ["EUR", "GBP"]


def test_savings_jar_adds_to_reserved_and_is_listed_by_name(provider_server):
    provider_server.route(
        PATH,
        answer(
            balance_json(1, "EUR", amount="1000.50", reserved="20"),
            balance_json(2, "EUR", "SAVINGS", amount="300.25", name="Tax reserve"),
            balance_json(3, "EUR", "SAVINGS", amount="0.25", name="Holiday"),
            balance_json(4, "USD", "SAVINGS", amount="50", name="Only a jar"),
        ),
    )
    snapshot = fetch(provider_server, types=["STANDARD", "SAVINGS"])
    assert provider_server.last.raw_query == "types=STANDARD,SAVINGS"
    eur = snapshot.by_currency()["EUR"]
    assert eur.available == Decimal("1000.50")
    assert eur.reserved == Decimal("320.50")
    assert eur.extras["jars"] == [
        {"id": 2, "name": "Tax reserve", "amount": Decimal("300.25")},
        {"id": 3, "name": "Holiday", "amount": Decimal("0.25")},
    ]
    usd = snapshot.by_currency()["USD"]
    assert usd.available == 0
    assert usd.reserved == Decimal("50")


def test_negative_amount_is_kept(provider_server):
    provider_server.route(PATH, answer(balance_json(1, "USD", amount="-100.25")))
    assert fetch(provider_server).by_currency()["USD"].available == Decimal("-100.25")


def test_unknown_currency_is_listed(provider_server):
    provider_server.route(
        PATH, answer(balance_json(1, "EUR", amount="1"), balance_json(2, "QQQ", amount="2"))
    )
    snapshot = fetch(provider_server)
    assert list(snapshot.by_currency()) == ["EUR"]
    assert snapshot.extras["unsupported_currencies"] == ["QQQ"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('{"balances": []}', "must be an array"),
        ('[{"currency": "EUR", "type": "STANDARD"}]', "amount"),
        (
            '[{"currency": "EUR", "type": "STANDARD", "amount": {"value": "10.5", "currency": '
            '"EUR"}, "reservedAmount": {"value": 0, "currency": "EUR"}}]',
            "must be a number",
        ),
        (
            '[{"currency": "EUR", "type": "STANDARD", "amount": {"value": 10.5, "currency": '
            '"USD"}, "reservedAmount": {"value": 0, "currency": "EUR"}}]',
            "USD",
        ),
        (
            '[{"currency": "EUR", "type": "STANDARD", "amount": {"value": 10.5, "currency": '
            '"EUR"}}]',
            "reservedAmount",
        ),
        (
            '[{"currency": "EUR", "type": "CREDIT", "amount": {"value": 1, "currency": "EUR"}}]',
            "STANDARD or SAVINGS",
        ),
        (
            '[{"currency": "EUR", "type": "STANDARD", "amount": {"value": 0.123456789, '
            '"currency": "EUR"}, "reservedAmount": {"value": 0, "currency": "EUR"}}]',
            "8 decimal places",
        ),
        ('[{"currency": "EUR", "type": "STANDARD", "amount": {"value": NaN}}]', "not valid JSON"),
        (answer(balance_json(1, "EUR"), balance_json(2, "EUR")), "Two STANDARD"),
    ],
)
def test_wrong_shapes_are_bad_responses(provider_server, body, fragment):
    provider_server.route(PATH, body)
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.BAD_RESPONSE
    assert fragment in error.message


def test_401_is_auth_without_the_token(provider_server, assert_no_secret):
    provider_server.route(
        PATH, {"error": "invalid_token", "error_description": "Invalid token"}, status=401
    )
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.AUTH
    assert error.message == "Invalid token (invalid_token)"
    assert_no_secret(error, TOKEN)


def test_400_errors_array_is_configuration(provider_server):
    provider_server.route(
        PATH, {"errors": [{"code": "NOT_VALID", "message": "types is required"}]}, status=400
    )
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.CONFIGURATION
    assert error.message == "types is required (NOT_VALID)"


def test_validate_options():
    assert WiseAdapter.validate_options({"profileId": 42}) == {
        "profileId": "42",
        "types": ["STANDARD"],
    }
    assert WiseAdapter.validate_options({"profileId": "42", "types": "savings,STANDARD"}) == {
        "profileId": "42",
        "types": ["SAVINGS", "STANDARD"],
    }
    with pytest.raises(ValueError, match="profileId"):
        WiseAdapter.validate_options({})
    with pytest.raises(ValueError, match="profileId"):
        WiseAdapter.validate_options({"profileId": "12/../3"})
    with pytest.raises(ValueError, match="types"):
        WiseAdapter.validate_options({"profileId": "1", "types": ["CHECKING"]})
    # Without STANDARD no currency's available amount is read: every balance would sync to 0.
    for types in (["SAVINGS"], "SAVINGS", "savings, savings"):
        with pytest.raises(ValueError, match="types must include STANDARD"):
            WiseAdapter.validate_options({"profileId": "1", "types": types})
    with pytest.raises(ValueError, match="profileId"):
        WiseAdapter.validate_options({"profileId": "\u0661\u0662"})  # Arabic-Indic digits


def test_missing_profile_is_configuration_error_before_request(provider_server):
    config = ConnectionConfig(
        kind="wise", base_url=provider_server.url, credentials={"apiToken": TOKEN}, options={}
    )
    with pytest.raises(ProviderError) as info:
        get_adapter("wise").fetch_snapshot(config)
    assert info.value.category == ErrorCategory.CONFIGURATION
    assert "profileId" in info.value.message
    assert provider_server.requests == []
