from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from balances.providers.base import ConnectionConfig, ErrorCategory, ProviderError, get_adapter
from balances.providers.payop import PayopAdapter

PATH = "/v1/wallets/get-balances"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtZXJjaGFudCJ9.c2lnbmF0dXJlLXNlY3JldA"

DOC_EXAMPLE = {
    "snapshotAt": "2025-09-15T12:34:56Z",
    "currencies": [
        {
            "code": "EUR",
            "balance": {
                "available": "1000.50",
                "referral": "15.00",
                "pending": "50.00",
                "reserve": "200.00",
                "total": "1265.50",
            },
        },
        {
            "code": "USD",
            "balance": {
                "available": "8000.50",
                "referral": "0.00",
                "pending": "0.00",
                "reserve": "0.00",
                "total": "8000.50",
            },
        },
    ],
}


def fetch(server, **options):
    config = ConnectionConfig(
        kind="payop", base_url=server.url, credentials={"token": TOKEN}, options=options
    )
    return get_adapter("payop").fetch_snapshot(config)


def fetch_error(server, **options) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        fetch(server, **options)
    return info.value


def test_documented_example_and_request(provider_server):
    provider_server.route(PATH, DOC_EXAMPLE)
    snapshot = fetch(provider_server)
    request = provider_server.last
    assert request.path == PATH
    assert request.raw_query == "includeTotal=1"
    assert request.header("Authorization") == f"Bearer {TOKEN}"
    assert request.header("Accept") == "application/json"

    assert snapshot.taken_at == datetime(2025, 9, 15, 12, 34, 56, tzinfo=UTC)
    eur = snapshot.by_currency()["EUR"]
    assert eur.available == Decimal("1000.50")
    assert eur.pending == Decimal("50.00")
    assert eur.reserved == Decimal("200.00")
    assert eur.extras == {"referral": Decimal("15.00"), "total": Decimal("1265.50")}
    assert snapshot.by_currency()["USD"].available == Decimal("8000.50")
    assert snapshot.omitted_means_zero is False


def test_currency_filter_is_sent_comma_separated(provider_server):
    provider_server.route(PATH, DOC_EXAMPLE)
    fetch(provider_server, currencies=["eur", "USD"])
    request = provider_server.last
    assert request.query == {"includeTotal": ["1"], "currency": ["EUR,USD"]}
    assert "currency=EUR,USD" in request.raw_query


def test_negative_values_are_valid(provider_server):
    body = {
        "snapshotAt": "2025-09-15T12:34:56+02:00",
        "currencies": [
            {
                "code": "USD",
                "balance": {
                    "available": "-120.75",
                    "referral": "0.00",
                    "pending": "-5.00",
                    "reserve": "0.00",
                },
            }
        ],
    }
    provider_server.route(PATH, body)
    snapshot = fetch(provider_server)
    usd = snapshot.by_currency()["USD"]
    assert usd.available == Decimal("-120.75")
    assert usd.pending == Decimal("-5.00")
    assert "total" not in usd.extras
    assert snapshot.taken_at == datetime(2025, 9, 15, 10, 34, 56, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "must be an object"),
        ({"currencies": []}, "snapshotAt"),
        ({"snapshotAt": "yesterday", "currencies": []}, "ISO 8601"),
        ({"snapshotAt": "2025-09-15T12:34:56Z"}, "currencies"),
        ({"snapshotAt": "2025-09-15T12:34:56Z", "currencies": [{"code": "EUR"}]}, "balance"),
        (
            {
                "snapshotAt": "2025-09-15T12:34:56Z",
                "currencies": [
                    {
                        "code": "EUR",
                        "balance": {
                            "available": 1.5,
                            "referral": "0",
                            "pending": "0",
                            "reserve": "0",
                        },
                    }
                ],
            },
            "must be a string",
        ),
        (
            {
                "snapshotAt": "2025-09-15T12:34:56Z",
                "currencies": [
                    {"code": "EUR", "balance": {"available": "1", "referral": "0", "pending": "0"}}
                ],
            },
            "reserve",
        ),
        (
            {**DOC_EXAMPLE, "currencies": DOC_EXAMPLE["currencies"] * 2},
            "more than once",
        ),
    ],
)
def test_wrong_shapes_are_bad_responses(provider_server, body, fragment):
    provider_server.route(PATH, body)
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.BAD_RESPONSE
    assert fragment in error.message


def test_400_field_errors_are_flattened(provider_server):
    provider_server.route(
        PATH,
        {"message": {"currencies [0]": ["This value is not a valid currency."]}},
        status=400,
    )
    error = fetch_error(provider_server, currencies=["EUR"])
    assert error.category == ErrorCategory.CONFIGURATION
    assert error.message == "currencies [0]: This value is not a valid currency."


def test_401_documented_body(provider_server, assert_no_secret):
    provider_server.route(PATH, {"message": "Unable find authenticated user"}, status=401)
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.AUTH
    assert error.message == "Unable find authenticated user"
    assert_no_secret(error, TOKEN)


def test_429_documented_body_with_retry_after(provider_server):
    provider_server.route(
        PATH, {"message": "Too many requests from ip"}, status=429, headers={"Retry-After": "17"}
    )
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.RATE_LIMITED
    assert error.retryable is True
    assert error.retry_after == 17
    assert error.message == "Too many requests from ip"


def test_429_without_retry_after_waits_a_minute(provider_server):
    provider_server.route(PATH, {"message": "Too many requests from ip"}, status=429)
    assert fetch_error(provider_server).retry_after == 60


def test_500_documented_list_body(provider_server):
    provider_server.route(
        PATH,
        {"message": [{"message": "cURL error 7: Failed to connect to engine-service port 80"}]},
        status=500,
    )
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.UNAVAILABLE
    assert error.retryable is True
    assert error.message == "cURL error 7: Failed to connect to engine-service port 80"


def test_validate_options():
    assert PayopAdapter.validate_options({}) == {}
    assert PayopAdapter.validate_options({"currencies": "eur, usd"}) == {
        "currencies": ["EUR", "USD"]
    }
    with pytest.raises(ValueError, match="currencies"):
        PayopAdapter.validate_options({"currencies": ["EURO"]})
