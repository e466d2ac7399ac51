from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from balances.providers.base import ConnectionConfig, ErrorCategory, ProviderError, get_adapter
from balances.providers.syncpay import syncpay_mode

PATH = "/api/v1/accounts/balances"
KEY = "sk_live_abc123xyz789secret"

DOC_EXAMPLE = {
    "success": True,
    "account_id": "org_abc123",
    "balances": [
        {"currency": "USD", "available_balance": "1250.50", "pending_balance": "125.00"},
        {"currency": "NGN", "available_balance": "450000.00", "pending_balance": "75000.00"},
        {"currency": "GHS", "available_balance": "5600.00", "pending_balance": "0.00"},
        {"currency": "USDT_TRC20", "available_balance": "500.00", "pending_balance": "50.00"},
    ],
    "total_balance_usd": "2847.25",
}


def fetch(server, key=KEY):
    config = ConnectionConfig(kind="syncpay", base_url=server.url, credentials={"apiKey": key})
    return get_adapter("syncpay").fetch_snapshot(config)


def fetch_error(server, key=KEY) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        fetch(server, key)
    return info.value


def test_documented_example_maps_to_figures_and_request_is_as_documented(provider_server):
    provider_server.route(PATH, DOC_EXAMPLE)
    snapshot = fetch(provider_server)

    request = provider_server.last
    assert request.path == PATH
    assert request.raw_query == ""
    assert request.header("Authorization") == f"Bearer {KEY}"
    assert request.header("Accept") == "application/json"
    assert "backoffice" in request.header("User-Agent")

    figures = snapshot.by_currency()
    assert [f.currency for f in snapshot.figures] == ["GHS", "NGN", "USD", "USDT_TRC20"]
    assert figures["USD"].available == Decimal("1250.50")
    assert figures["USD"].pending == Decimal("125.00")
    assert figures["USD"].reserved == 0
    assert figures["NGN"].available == Decimal("450000.00")
    assert figures["GHS"].pending == 0
    assert snapshot.omitted_means_zero is True
    assert snapshot.extras["account_id"] == "org_abc123"
    assert snapshot.extras["total_balance_usd"] == Decimal("2847.25")
    assert snapshot.extras["mode"] == "live"
    assert snapshot.extras["unsupported_currencies"] == []
    assert snapshot.taken_at.tzinfo is not None


def test_eight_decimal_crypto_amount_is_exact(provider_server):
    body = dict(DOC_EXAMPLE)
    body["balances"] = [
        {"currency": "USDT_TRC20", "available_balance": "0.12345678", "pending_balance": "0"}
    ]
    provider_server.route(PATH, body)
    figures = fetch(provider_server).by_currency()
    assert figures["USDT_TRC20"].available == Decimal("0.12345678")


def test_more_than_eight_decimals_is_a_bad_response(provider_server):
    body = dict(DOC_EXAMPLE)
    body["balances"] = [
        {"currency": "USDT_TRC20", "available_balance": "0.123456789", "pending_balance": "0"}
    ]
    provider_server.route(PATH, body)
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.BAD_RESPONSE
    assert "8 decimal places" in error.message


def test_omitted_zero_currency_and_empty_list(provider_server):
    body = dict(DOC_EXAMPLE, balances=[], total_balance_usd="0.00")
    provider_server.route(PATH, body)
    snapshot = fetch(provider_server)
    assert snapshot.figures == ()
    assert snapshot.omitted_means_zero is True


def test_test_key_gives_test_mode(provider_server):
    provider_server.route(PATH, DOC_EXAMPLE)
    assert fetch(provider_server, "sk_test_4242abcd").extras["mode"] == "test"


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        ("sk_test_abc", "test"),
        ("sk_live_abc", "live"),
        (" sk_live_abc ", "live"),
        ("sk_test_", None),
        ("pk_live_abc", None),
        ("", None),
        (None, None),
    ],
)
def test_syncpay_mode(key, mode):
    assert syncpay_mode(key) == mode


def test_key_without_documented_prefix_is_refused_before_any_request(provider_server):
    provider_server.route(PATH, DOC_EXAMPLE)
    error = fetch_error(provider_server, key="pk_live_whatever")
    assert error.category == ErrorCategory.CONFIGURATION
    assert provider_server.requests == []
    assert "pk_live_whatever" not in str(error)


def test_unknown_currency_is_listed_not_an_error(provider_server):
    body = dict(DOC_EXAMPLE)
    body["balances"] = [
        *DOC_EXAMPLE["balances"],
        {"currency": "DOGE", "available_balance": "12.5", "pending_balance": "0"},
    ]
    provider_server.route(PATH, body)
    snapshot = fetch(provider_server)
    assert "DOGE" not in snapshot.by_currency()
    assert snapshot.extras["unsupported_currencies"] == ["DOGE"]


def test_401_documented_body_becomes_auth_error_without_the_key(provider_server, assert_no_secret):
    provider_server.route(
        PATH,
        {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}},
        status=401,
    )
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.AUTH
    assert error.message == "Invalid API key (UNAUTHORIZED)"
    assert error.status_code == 401
    assert error.retryable is False
    assert_no_secret(error, KEY)


def test_404_documented_body_becomes_not_found(provider_server):
    provider_server.route(
        PATH, {"error": {"code": "NOT_FOUND", "message": "Organization not found"}}, status=404
    )
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.NOT_FOUND
    assert error.message == "Organization not found (NOT_FOUND)"


def test_provider_echoing_the_key_is_redacted(provider_server, assert_no_secret):
    provider_server.route(
        PATH, {"error": {"code": "UNAUTHORIZED", "message": f"Key {KEY} revoked"}}, status=401
    )
    error = fetch_error(provider_server)
    assert "revoked" in error.message
    assert_no_secret(error, KEY)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([DOC_EXAMPLE], "must be an object"),
        ({**DOC_EXAMPLE, "success": False}, "success"),
        ({k: v for k, v in DOC_EXAMPLE.items() if k != "balances"}, "balances"),
        ({**DOC_EXAMPLE, "balances": {"USD": "1"}}, "balances must be an array"),
        (
            {**DOC_EXAMPLE, "balances": [{"currency": "USD", "available_balance": 1250.5}]},
            "available_balance must be a string",
        ),
        (
            {
                **DOC_EXAMPLE,
                "balances": [
                    {"currency": "USD", "available_balance": "12,50", "pending_balance": "0"}
                ],
            },
            "not a decimal",
        ),
        (
            {**DOC_EXAMPLE, "balances": [{"currency": "USD", "available_balance": "1.00"}]},
            "pending_balance",
        ),
        (
            {
                **DOC_EXAMPLE,
                "balances": [
                    {"currency": "USD", "available_balance": "NaN", "pending_balance": "0"}
                ],
            },
            "not a decimal",
        ),
        (
            {
                **DOC_EXAMPLE,
                "balances": [  # Arabic-Indic digits: a decimal to Python, not to the docs
                    {
                        "currency": "USD",
                        "available_balance": "\u0661\u0662\u0663.\u0665\u0660",
                        "pending_balance": "0",
                    }
                ],
            },
            "not a decimal",
        ),
        (
            {**DOC_EXAMPLE, "balances": DOC_EXAMPLE["balances"] + DOC_EXAMPLE["balances"][:1]},
            "more than once",
        ),
        ({**DOC_EXAMPLE, "total_balance_usd": 2847.25}, "total_balance_usd"),
    ],
)
def test_wrong_shapes_are_bad_responses(provider_server, body, fragment):
    provider_server.route(PATH, body)
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.BAD_RESPONSE
    assert fragment in error.message


def test_malformed_json_is_a_bad_response(provider_server):
    provider_server.route(PATH, '{"success": true, "balances": [')
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.BAD_RESPONSE
    assert error.retryable is False


def test_base_url_with_trailing_slash_and_prefix(provider_server):
    provider_server.route("/prefix" + PATH, DOC_EXAMPLE)
    config = ConnectionConfig(
        kind="syncpay", base_url=provider_server.url + "/prefix/", credentials={"apiKey": KEY}
    )
    get_adapter("syncpay").fetch_snapshot(config)
    assert provider_server.last.path == "/prefix" + PATH


def test_no_basic_auth_is_sent(provider_server):
    provider_server.route(PATH, DOC_EXAMPLE)
    fetch(provider_server)
    assert not provider_server.last.header("Authorization").startswith("Basic")
    assert base64.b64encode(KEY.encode()).decode() not in str(provider_server.last.headers)


def test_informational_fields_may_be_absent(provider_server):
    provider_server.route(PATH, {"success": True, "balances": DOC_EXAMPLE["balances"][:1]})
    snapshot = fetch(provider_server)
    assert snapshot.by_currency()["USD"].available == Decimal("1250.50")
    assert snapshot.extras["account_id"] is None
    assert snapshot.extras["total_balance_usd"] is None
