"""GET /api/v1/overview: totals per currency and the attention list, exact amounts, the same
role rules as the page, filters checked like every other input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from alerts.models import AlertRule
from tests.alerts.overview.conftest import build_world
from tests.config.helpers import (
    CALLERS,
    READERS,
    api_client_for,
    assert_error,
    body,
    check_matrix_response,
)
from tests.factories import BalanceFactory, PayoutFactory, ProviderConnectionFactory, ServiceFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/overview"


@pytest.mark.parametrize("caller", CALLERS)
def test_who_may_read_the_overview(request, caller):
    response = api_client_for(request, caller).get(URL)
    check_matrix_response(response, caller, allowed=READERS, writes=False, success=200)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_overview_is_read_only(admin_api, method):
    assert_error(getattr(admin_api, method)(URL), 405)


def test_the_overview_answers_with_and_without_a_trailing_slash(viewer_api):
    assert viewer_api.get(URL).status_code == 200
    assert viewer_api.get(f"{URL}/").status_code == 200


def test_totals_are_exact_numbers_with_the_currencys_digits(viewer_api):
    a, b = ServiceFactory(), ServiceFactory()
    BalanceFactory(service=a, currency="EUR", available=Decimal("0.10"))
    BalanceFactory(service=b, currency="EUR", available=Decimal("0.20"), pending=Decimal("3"))
    BalanceFactory(service=a, currency="JPY", available=Decimal("5000"))
    BalanceFactory(service=b, currency="USDT_TRC20", available=Decimal("0.00000001"))
    PayoutFactory(service=b, currency="EUR", amount=Decimal("0.05"), funds=Decimal("0.20"))

    response = viewer_api.get(URL)

    assert response.status_code == 200
    raw = response.content.decode()
    # Digit for digit: never floats, never more or fewer digits than the currency has.
    assert '"available": 0.30' in raw
    assert '"available": 5000,' in raw
    assert '"available": 0.00000001' in raw
    data = body(response)
    assert data["totals"] == [
        {
            "currency": "EUR",
            "available": Decimal("0.30"),
            "pending": Decimal("3.00"),
            "reserved": Decimal("0.00"),
            "onHold": Decimal("0.05"),
            "availableForPayout": Decimal("0.25"),
            "services": 2,
        },
        {
            "currency": "JPY",
            "available": Decimal("5000"),
            "pending": Decimal("0"),
            "reserved": Decimal("0"),
            "onHold": Decimal("0"),
            "availableForPayout": Decimal("5000"),
            "services": 1,
        },
        {
            "currency": "USDT_TRC20",
            "available": Decimal("0.00000001"),
            "pending": Decimal("0E-8"),
            "reserved": Decimal("0E-8"),
            "onHold": Decimal("0E-8"),
            "availableForPayout": Decimal("0.00000001"),
            "services": 1,
        },
    ]
    assert data["attention"] == []


def test_the_attention_list_says_what_where_and_since_when(viewer_api, alert_of):
    broke = ServiceFactory(name="Broke", country="GH")
    ProviderConnectionFactory(service=broke, kind="wise", consecutive_failures=1)
    BalanceFactory(service=broke, currency="GHS", available=Decimal("-5.50"))
    alert = alert_of(broke, "GHS", AlertRule.Kind.AVAILABLE_BELOW, opened_value="-5.50")

    data = body(viewer_api.get(URL))

    assert [(row["issue"], row["currency"]) for row in data["attention"]] == [
        ("negative", "GHS"),
        ("below_threshold", "GHS"),
        ("connection_failed", None),
    ]
    negative, below, failing = data["attention"]
    assert negative == {
        "issue": "negative",
        "label": "Negative balance",
        "serviceId": broke.public_id,
        "serviceName": "Broke",
        "serviceStatus": "active",
        "country": "GH",
        "provider": "wise",
        "currency": "GHS",
        "amount": Decimal("-5.50"),
        "detail": "Available \u22125.50 GHS.",
        "since": negative["since"],
        "alertId": None,
    }
    assert negative["since"].endswith("Z") or "+00:00" in negative["since"]
    assert (below["alertId"], below["amount"]) == (alert.public_id, Decimal("-5.50"))
    assert (failing["amount"], failing["alertId"]) == (None, None)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"currency": "GHS"}, ["GH"]),
        ({"currency": " ghs "}, ["GH"]),
        ({"country": "NG"}, ["NG"]),
        ({"provider": "none"}, ["NG"]),
        ({"provider": "wise"}, ["GH"]),
        ({"status": "suspended"}, []),
        ({"issue": "negative"}, ["GH", "NG"]),
        ({"issue": "stale"}, []),
    ],
)
def test_the_attention_list_filters(viewer_api, query, expected):
    gh = ServiceFactory(name="A", country="GH")
    ProviderConnectionFactory(service=gh, kind="wise")
    BalanceFactory(service=gh, currency="GHS", available=Decimal("-1.00"))
    ng = ServiceFactory(name="B", country="NG")
    BalanceFactory(service=ng, currency="NGN", available=Decimal("-1.00"))

    data = body(viewer_api.get(URL, query))

    assert [row["country"] for row in data["attention"]] == expected
    assert len(data["totals"]) == 2  # the filters never touch the totals


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"currency": "XXX"}, "currency"),
        ({"currency": "E\u00dcR"}, "currency"),
        ({"currency": "EUR" * 10}, "currency"),
        ({"country": "ZZ"}, "country"),
        ({"country": "NGA"}, "country"),
        ({"provider": "paypal"}, "provider"),
        ({"status": "sleeping"}, "status"),
        ({"issue": "everything"}, "issue"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(viewer_api, query, field):
    error = assert_error(viewer_api.get(URL, query), 400, "validation_error")
    assert field in error["details"]


@pytest.mark.parametrize("count", [1, 300])
def test_the_overview_api_costs_the_same_queries_for_1_and_300_services(
    viewer_api, django_assert_num_queries, count
):
    build_world(count)
    viewer_api.get(URL)  # the key's first use is written down (then at most once a minute)
    with django_assert_num_queries(6):
        # 1. the API key, with its user
        # 2. the user's permissions (own and groups', one UNION)
        # 3. totals per currency (one GROUP BY)
        # 4. balances needing attention, with service and connection joined
        # 5. paused and failing connections, with service and last failed run
        # 6. open alerts, with service and connection joined
        response = viewer_api.get(URL)
    assert response.status_code == 200
    assert len(body(response)["attention"]) == 6 * count
