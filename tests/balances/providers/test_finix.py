from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from balances.providers.base import ConnectionConfig, ErrorCategory, ProviderError, get_adapter
from balances.providers.finix import FinixAdapter

USERNAME = "USabc123def456"
PASSWORD = "p4ss-w0rd-very-secret"


def balance(balance_id="BL123", currency="USD", available=100000, pending=110000, posted=150000):
    """A documented 200 body."""
    return {
        "id": balance_id,
        "created_at": "2024-06-01T12:00:00.000Z",
        "updated_at": "2024-06-02T12:00:00.000Z",
        "available_amount": available,
        "currency": currency,
        "linked_to": "APxyz",
        "linked_type": "APPLICATION",
        "pending_amount": pending,
        "posted_amount": posted,
        "tags": None,
        "type": "DISBURSEMENT",
        "_links": {"self": {"href": f"https://finix.example/balances/{balance_id}"}},
    }


def hal_error(code, message, logref="abc123"):
    return {
        "total": 1,
        "_embedded": {
            "errors": [
                {
                    "code": code,
                    "logref": logref,
                    "message": message,
                    "_links": {"self": {"href": "https://finix.example/balances/BL1"}},
                }
            ]
        },
    }


def config(server, ids=("BL123",), **options):
    return ConnectionConfig(
        kind="finix",
        base_url=server.url,
        credentials={"username": USERNAME, "password": PASSWORD},
        options={"balanceIds": list(ids), **options},
    )


def fetch(server, ids=("BL123",), **options):
    return get_adapter("finix").fetch_snapshot(config(server, ids, **options))


def fetch_error(server, ids=("BL123",), **options) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        fetch(server, ids, **options)
    return info.value


def test_request_uses_basic_auth_version_header_and_path(provider_server):
    provider_server.route("/balances/BL123", balance())
    fetch(provider_server)
    request = provider_server.last
    assert request.path == "/balances/BL123"
    expected = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert request.header("Authorization") == f"Basic {expected}"
    assert request.header("Finix-Version") == "2022-02-01"
    assert request.header("Accept") == "application/json"


def test_configured_version_is_sent(provider_server):
    provider_server.route("/balances/BL123", balance())
    fetch(provider_server, version="2018-01-01")
    assert provider_server.last.header("Finix-Version") == "2018-01-01"


def test_usd_minor_units(provider_server):
    provider_server.route("/balances/BL123", balance(available=100050, pending=110000, posted=5))
    snapshot = fetch(provider_server)
    usd = snapshot.by_currency()["USD"]
    assert usd.available == Decimal("1000.50")
    assert usd.pending == Decimal("1100.00")
    assert usd.reserved == 0
    assert usd.extras == {"posted": Decimal("0.05"), "balanceIds": ["BL123"]}


def test_jpy_has_no_decimals_and_kwd_three(provider_server):
    provider_server.route("/balances/BLjpy", balance("BLjpy", "JPY", 1050, 0, 1050))
    provider_server.route("/balances/BLkwd", balance("BLkwd", "KWD", 1050, 1, 1500))
    snapshot = fetch(provider_server, ids=("BLjpy", "BLkwd"))
    figures = snapshot.by_currency()
    assert figures["JPY"].available == Decimal(1050)
    assert str(figures["JPY"].available) == "1050"
    assert figures["KWD"].available == Decimal("1.050")
    assert figures["KWD"].pending == Decimal("0.001")
    assert figures["KWD"].extras["posted"] == Decimal("1.500")
    assert [r.path for r in provider_server.requests] == ["/balances/BLjpy", "/balances/BLkwd"]


def test_same_currency_balances_add_up(provider_server):
    provider_server.route("/balances/BL1", balance("BL1", "USD", 100, 200, 300))
    provider_server.route("/balances/BL2", balance("BL2", "USD", 1, 2, 3))
    usd = fetch(provider_server, ids=("BL1", "BL2")).by_currency()["USD"]
    assert usd.available == Decimal("1.01")
    assert usd.pending == Decimal("2.02")
    assert usd.extras == {"posted": Decimal("3.03"), "balanceIds": ["BL1", "BL2"]}


def test_negative_amounts_are_kept(provider_server):
    provider_server.route("/balances/BL123", balance(available=-2500, pending=0, posted=-2500))
    assert fetch(provider_server).by_currency()["USD"].available == Decimal("-25.00")


@pytest.mark.parametrize("bad", [1000.0, "1000", True, None, 10.5])
def test_non_integer_amount_is_a_bad_response(provider_server, bad):
    body = balance()
    body["available_amount"] = bad
    provider_server.route("/balances/BL123", body)
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.BAD_RESPONSE
    assert "available_amount" in error.message
    assert "BL123" in error.message


def test_json_float_written_with_point_zero_is_refused(provider_server):
    provider_server.route(
        "/balances/BL123",
        '{"id": "BL123", "currency": "USD", "available_amount": 100.0, '
        '"pending_amount": 1, "posted_amount": 1}',
    )
    assert fetch_error(provider_server).category == ErrorCategory.BAD_RESPONSE


@pytest.mark.parametrize(
    "missing", ["currency", "available_amount", "pending_amount", "posted_amount"]
)
def test_missing_field_is_a_bad_response(provider_server, missing):
    body = balance()
    del body[missing]
    provider_server.route("/balances/BL123", body)
    error = fetch_error(provider_server)
    assert error.category == ErrorCategory.BAD_RESPONSE
    assert missing in error.message


def test_array_instead_of_object_is_a_bad_response(provider_server):
    provider_server.route("/balances/BL123", [balance()])
    assert fetch_error(provider_server).category == ErrorCategory.BAD_RESPONSE


def test_unknown_currency_is_listed(provider_server):
    provider_server.route("/balances/BL1", balance("BL1", "USD"))
    provider_server.route("/balances/BL2", balance("BL2", "ZZZ"))
    snapshot = fetch(provider_server, ids=("BL1", "BL2"))
    assert list(snapshot.by_currency()) == ["USD"]
    assert snapshot.extras["unsupported_currencies"] == ["ZZZ"]


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (401, ErrorCategory.AUTH),
        (403, ErrorCategory.AUTH),
        (404, ErrorCategory.NOT_FOUND),
        (406, ErrorCategory.CONFIGURATION),
        (422, ErrorCategory.CONFIGURATION),
    ],
)
def test_documented_hal_errors(provider_server, assert_no_secret, status, category):
    provider_server.route(
        "/balances/BL123", hal_error("UNKNOWN", f"Problem {status}", "log42"), status=status
    )
    error = fetch_error(provider_server)
    assert error.category == category
    assert error.status_code == status
    assert error.retryable is False
    assert f"Problem {status} (UNKNOWN, logref log42)" in error.message
    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert_no_secret(error, PASSWORD, token)


def test_404_names_the_balance(provider_server):
    provider_server.route("/balances/BL1", balance("BL1"))
    provider_server.route(
        "/balances/BLgone", hal_error("NOT_FOUND", "Balance not found"), status=404
    )
    error = fetch_error(provider_server, ids=("BL1", "BLgone"))
    assert error.category == ErrorCategory.NOT_FOUND
    assert error.message.startswith("Balance BLgone: Balance not found (NOT_FOUND")


def test_no_balance_ids_is_a_configuration_error_before_any_request(provider_server):
    error = fetch_error(provider_server, ids=())
    assert error.category == ErrorCategory.CONFIGURATION
    assert "balanceIds" in error.message
    assert provider_server.requests == []


def test_validate_options():
    assert FinixAdapter.validate_options({"balanceIds": "BL1, BL2\nBL1"}) == {
        "balanceIds": ["BL1", "BL2"],
        "version": "2022-02-01",
    }
    with pytest.raises(ValueError, match="balanceIds"):
        FinixAdapter.validate_options({"balanceIds": ["../admin"]})
    with pytest.raises(ValueError, match="balanceIds"):
        FinixAdapter.validate_options({})
    with pytest.raises(ValueError, match="version"):
        FinixAdapter.validate_options({"balanceIds": ["BL1"], "version": "latest"})
