"""The provider sandboxes: documented shapes and errors, and the adapters working against them.

The sandbox URLs are mounted here by this module's own URLconf (as config/urls.py does when
``PROVIDER_SANDBOXES`` is on), so these tests do not depend on that setting.
"""

from __future__ import annotations

import base64
import re
import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import include, path

from balances.providers import ratelimit
from balances.providers.base import ConnectionConfig, ErrorCategory, ProviderError, get_adapter
from balances.sandbox import DEMO_CONNECTIONS
from balances.sandbox import common as sandbox_common
from balances.sandbox import views as sandbox_views
from balances.sandbox.common import TICK_SECONDS, walk_minor

urlpatterns = [path("sandbox/", include("balances.sandbox.urls"))]

SYNCPAY = "/sandbox/syncpay/api/v1/accounts/balances"
FINIX = "/sandbox/finix/balances/"
WISE = "/sandbox/wise/v4/profiles/{}/balances"
PAYOP = "/sandbox/payop/v1/wallets/get-balances"


@pytest.fixture(autouse=True)
def sandbox_urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.PROVIDER_RATE_LIMIT_KEY_PREFIX = f"test-ratelimit:{uuid.uuid4().hex}"
    sandbox_views.payop_rate_limit.reset()
    yield
    sandbox_views.payop_rate_limit.reset()
    ratelimit.reset()


@pytest.fixture
def client():
    return Client()


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


DEMO = {kind: spec["credentials"] for kind, spec in DEMO_CONNECTIONS.items()}
FINIX_AUTH = basic(DEMO["finix"]["username"], DEMO["finix"]["password"])
WISE_PROFILE = DEMO_CONNECTIONS["wise"]["options"]["profileId"]
DECIMAL_2 = re.compile(r"-?\d+\.\d{2}")


# --- SyncPay ------------------------------------------------------------------------------


def test_syncpay_documented_shape(client):
    response = client.get(SYNCPAY, **bearer(DEMO["syncpay"]["apiKey"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is True
    assert body["account_id"].startswith("org_")
    assert DECIMAL_2.fullmatch(body["total_balance_usd"])
    by_code = {b["currency"]: b for b in body["balances"]}
    assert set(by_code) == {"USD", "NGN", "GHS", "USDT_TRC20"}  # KES is zero: omitted
    assert by_code["GHS"]["pending_balance"] == "0.00"
    assert re.fullmatch(r"\d+\.\d{8}", by_code["USDT_TRC20"]["available_balance"])
    for entry in body["balances"]:
        assert isinstance(entry["available_balance"], str)


@pytest.mark.parametrize("headers", [{}, bearer("sk_prod_123456789"), bearer("Invalid")])
def test_syncpay_bad_key_gets_documented_401(client, headers):
    response = client.get(SYNCPAY, **headers)
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}


def test_syncpay_deactivated_organisation_gets_documented_404(client):
    response = client.get(SYNCPAY, **bearer("sk_live_deactivated_org"))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "NOT_FOUND", "message": "Organization not found"}}


def test_sandbox_is_get_only_and_needs_no_csrf(client):
    assert client.post(SYNCPAY, **bearer(DEMO["syncpay"]["apiKey"])).status_code == 405


# --- Finix --------------------------------------------------------------------------------


def test_finix_documented_shape_in_minor_units(client):
    response = client.get(FINIX + "BLsandboxKWD", HTTP_FINIX_VERSION="2022-02-01", **FINIX_AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "BLsandboxKWD"
    assert body["currency"] == "KWD"
    for name in ("available_amount", "pending_amount", "posted_amount"):
        assert type(body[name]) is int
    assert body["type"] == "DISBURSEMENT"
    assert body["_links"]["self"]["href"].endswith("/balances/BLsandboxKWD")


def hal_errors(response) -> list[dict]:
    body = response.json()
    assert body["total"] == len(body["_embedded"]["errors"]) >= 1
    for error in body["_embedded"]["errors"]:
        assert {"code", "logref", "message"} <= set(error)
    return body["_embedded"]["errors"]


@pytest.mark.parametrize(
    "headers",
    [{}, basic("USsandboxDemo1", "wrong"), basic("nobody", "sandbox-secret"), bearer("x")],
)
def test_finix_bad_credentials_get_hal_401(client, headers):
    response = client.get(FINIX + "BLsandboxUSD", **headers)
    assert response.status_code == 401
    assert hal_errors(response)[0]["code"] == "UNKNOWN"


def test_finix_unknown_balance_gets_hal_404(client):
    response = client.get(FINIX + "BLnothing", **FINIX_AUTH)
    assert response.status_code == 404
    assert "not found" in hal_errors(response)[0]["message"]


def test_finix_other_errors(client):
    assert client.get(FINIX + "BLforbiddenUSD", **FINIX_AUTH).status_code == 403
    response = client.get(FINIX + "BLsandboxUSD", HTTP_FINIX_VERSION="latest", **FINIX_AUTH)
    assert response.status_code == 422
    hal_errors(response)
    response = client.get(FINIX + "BLsandboxUSD", HTTP_ACCEPT="text/html", **FINIX_AUTH)
    assert response.status_code == 406


# --- Wise ---------------------------------------------------------------------------------


def test_wise_documented_shape_with_numbers(client):
    response = client.get(
        WISE.format(WISE_PROFILE) + "?types=STANDARD", **bearer(DEMO["wise"]["apiToken"])
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert re.search(r'"amount": \{"value": -?\d+(\.\d+)?, "currency"', text)  # a JSON number
    body = response.json()
    assert {(b["currency"], b["type"]) for b in body} == {
        ("EUR", "STANDARD"),
        ("GBP", "STANDARD"),
        ("USD", "STANDARD"),
    }
    for balance in body:
        assert balance["amount"]["currency"] == balance["currency"]
        assert {"id", "reservedAmount", "cashAmount", "totalWorth", "visible"} <= set(balance)


def test_wise_savings_jar_only_when_asked(client):
    response = client.get(
        WISE.format(WISE_PROFILE) + "?types=STANDARD,SAVINGS", **bearer(DEMO["wise"]["apiToken"])
    )
    jars = [b for b in response.json() if b["type"] == "SAVINGS"]
    assert [(j["currency"], j["name"]) for j in jars] == [("EUR", "Tax reserve")]


@pytest.mark.parametrize("query", ["", "?types=", "?types=CHECKING"])
def test_wise_missing_or_bad_types_gets_400(client, query):
    response = client.get(WISE.format(WISE_PROFILE) + query, **bearer(DEMO["wise"]["apiToken"]))
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]


def test_wise_bad_token_gets_401_and_bad_profile_404(client):
    response = client.get(WISE.format(WISE_PROFILE) + "?types=STANDARD", **bearer("nope"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    response = client.get(
        WISE.format("abc") + "?types=STANDARD", **bearer(DEMO["wise"]["apiToken"])
    )
    assert response.status_code == 404


# --- Payop --------------------------------------------------------------------------------


def test_payop_documented_shape_and_include_total(client):
    auth = bearer(DEMO["payop"]["token"])
    body = client.get(PAYOP + "?includeTotal=1", **auth).json()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", body["snapshotAt"])
    assert [c["code"] for c in body["currencies"]] == ["EUR", "USD"]
    for entry in body["currencies"]:
        balance = entry["balance"]
        assert set(balance) == {"available", "referral", "pending", "reserve", "total"}
        parts = sum(Decimal(balance[k]) for k in ("available", "referral", "pending", "reserve"))
        assert Decimal(balance["total"]) == parts
    usd = body["currencies"][1]["balance"]
    assert Decimal(usd["pending"]) < 0  # chargeback adjustments: negatives are documented
    without_total = client.get(PAYOP, **auth).json()
    assert "total" not in without_total["currencies"][0]["balance"]


def test_payop_currency_filter(client):
    body = client.get(PAYOP + "?currency=USD", **bearer(DEMO["payop"]["token"])).json()
    assert [c["code"] for c in body["currencies"]] == ["USD"]


def test_payop_invalid_currency_gets_documented_400(client):
    response = client.get(PAYOP + "?currency=EURO,USD", **bearer(DEMO["payop"]["token"]))
    assert response.status_code == 400
    assert response.json() == {
        "message": {"currencies [0]": ["This value is not a valid currency."]}
    }


def test_payop_bad_token_gets_documented_401(client):
    response = client.get(PAYOP, **bearer("not-a-jwt"))
    assert response.status_code == 401
    assert response.json() == {"message": "Unable find authenticated user"}


def test_payop_eleventh_request_in_a_minute_gets_documented_429(client):
    auth = bearer(DEMO["payop"]["token"])
    for _ in range(10):
        assert client.get(PAYOP, **auth).status_code == 200
    response = client.get(PAYOP, **auth)
    assert response.status_code == 429
    assert response.json() == {"message": "Too many requests from ip"}
    assert 1 <= int(response["Retry-After"]) <= 60


# --- Determinism and drift ----------------------------------------------------------------


def test_balances_are_deterministic_per_credential_and_drift(client, monkeypatch):
    moment = 1_760_000_000.0
    monkeypatch.setattr(sandbox_common, "clock", lambda: moment)
    first = client.get(SYNCPAY, **bearer("sk_test_aaaaaaaa")).json()
    again = client.get(SYNCPAY, **bearer("sk_test_aaaaaaaa")).json()
    other = client.get(SYNCPAY, **bearer("sk_test_bbbbbbbb")).json()
    assert first == again
    assert first["balances"] != other["balances"]
    monkeypatch.setattr(sandbox_common, "clock", lambda: moment + 4 * TICK_SECONDS)
    later = client.get(SYNCPAY, **bearer("sk_test_aaaaaaaa")).json()
    assert later["balances"] != first["balances"]
    assert later["account_id"] == first["account_id"]


def test_walk_changes_with_time_and_repeats_for_the_same_moment():
    moment = 1_760_000_000.0
    values = [walk_minor("seed", 100_000, 500, now=moment + i * TICK_SECONDS) for i in range(20)]
    assert len(set(values)) > 10
    assert walk_minor("seed", 100_000, 500, now=moment) == values[0]
    assert walk_minor("other", 100_000, 500, now=moment) != values[0]
    assert all(v >= 0 for v in values)


# --- The adapters against the sandboxes (a real HTTP server) -------------------------------


def demo_config(live_server, kind: str) -> ConnectionConfig:
    spec = DEMO_CONNECTIONS[kind]
    return ConnectionConfig(
        kind=kind,
        base_url=f"{live_server.url}/sandbox/{kind}",
        credentials=spec["credentials"],
        options=spec["options"],
    )


def test_adapters_work_against_the_sandboxes(live_server):
    syncpay = get_adapter("syncpay").fetch_snapshot(demo_config(live_server, "syncpay"))
    assert [f.currency for f in syncpay.figures] == ["GHS", "NGN", "USD", "USDT_TRC20"]
    assert syncpay.omitted_means_zero is True
    assert syncpay.extras["mode"] == "test"
    usdt = syncpay.by_currency()["USDT_TRC20"].available
    assert usdt.as_tuple().exponent == -8

    finix = get_adapter("finix").fetch_snapshot(demo_config(live_server, "finix"))
    assert [f.currency for f in finix.figures] == ["JPY", "KWD", "USD"]
    assert finix.by_currency()["JPY"].available.as_tuple().exponent == 0
    assert finix.by_currency()["KWD"].available.as_tuple().exponent == -3
    assert finix.by_currency()["USD"].extras["balanceIds"] == ["BLsandboxUSD"]

    wise = get_adapter("wise").fetch_snapshot(demo_config(live_server, "wise"))
    assert [f.currency for f in wise.figures] == ["EUR", "GBP", "USD"]
    eur = wise.by_currency()["EUR"]
    assert [j["name"] for j in eur.extras["jars"]] == ["Tax reserve"]
    assert eur.reserved >= eur.extras["jars"][0]["amount"] > 0

    payop = get_adapter("payop").fetch_snapshot(demo_config(live_server, "payop"))
    assert [f.currency for f in payop.figures] == ["EUR", "USD"]
    assert payop.by_currency()["USD"].pending < 0
    assert "total" in payop.by_currency()["EUR"].extras


def test_adapters_report_sandbox_errors(live_server):
    config = demo_config(live_server, "syncpay")
    bad = ConnectionConfig(
        kind="syncpay", base_url=config.base_url, credentials={"apiKey": "sk_test_deactivated"}
    )
    with pytest.raises(ProviderError) as info:
        get_adapter("syncpay").fetch_snapshot(bad)
    assert info.value.category == ErrorCategory.NOT_FOUND
    assert info.value.message == "Organization not found (NOT_FOUND)"

    finix = demo_config(live_server, "finix")
    missing = ConnectionConfig(
        kind="finix",
        base_url=finix.base_url,
        credentials=finix.credentials,
        options={"balanceIds": ["BLsandboxUSD", "BLmissing"]},
    )
    with pytest.raises(ProviderError) as info:
        get_adapter("finix").fetch_snapshot(missing)
    assert info.value.category == ErrorCategory.NOT_FOUND
    assert "BLmissing" in info.value.message

    wrong_password = ConnectionConfig(
        kind="finix",
        base_url=finix.base_url,
        credentials={"username": "USsandboxDemo1", "password": "guess-123"},
        options=finix.options,
    )
    with pytest.raises(ProviderError) as info:
        get_adapter("finix").fetch_snapshot(wrong_password)
    assert info.value.category == ErrorCategory.AUTH
    assert "guess-123" not in str(info.value)
