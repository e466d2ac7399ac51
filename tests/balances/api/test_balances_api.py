"""GET/POST /services/{id}/balances: the published contract, filters, creation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances.actions import balance_hold_for_payout
from balances.models import Balance
from payouts.models import Payout
from tests.config.helpers import assert_error, body, send
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def url(service, suffix: str = "") -> str:
    return f"/api/v1/services/{service.public_id}/balances{suffix}"


# --- The published contract -----------------------------------------------------------------


def test_documented_example_is_reproduced_digit_for_digit(viewer_api):
    service = ServiceFactory(public_id="srv_10293")
    BalanceFactory(service=service, currency="USD", available=Decimal("8400"))
    BalanceFactory(service=service, currency="EUR", available=Decimal("12500.75"))

    response = viewer_api.get("/api/v1/services/srv_10293/balances")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    raw = response.content.decode()
    assert raw.startswith(
        '{"serviceId": "srv_10293", "balances": [{"currency": "EUR", "amount": 12500.75,'
    )
    assert '{"currency": "USD", "amount": 8400.00,' in raw
    # Parsed, the documented fields say exactly what the documentation shows.
    data = body(response)
    assert list(data) == ["serviceId", "balances"]
    assert [(b["currency"], b["amount"]) for b in data["balances"]] == [
        ("EUR", Decimal("12500.75")),
        ("USD", Decimal("8400.00")),
    ]
    assert [list(b)[:2] for b in data["balances"]] == [["currency", "amount"]] * 2


@pytest.mark.parametrize(
    ("currency", "stored", "written"),
    [
        ("JPY", "5000", "5000"),
        ("KWD", "1234.567", "1234.567"),
        ("USDT_TRC20", "12.5", "12.50000000"),
        ("EUR", "0", "0.00"),
        ("EUR", "-3.1", "-3.10"),
        # The largest amounts storage keeps, beyond a float's 15-17 digits.
        ("GBP", "92233720368.54", "92233720368.54"),
        ("USDT_TRC20", "-92233720368.54775807", "-92233720368.54775807"),
    ],
)
def test_amount_has_the_currency_digits_and_never_goes_through_float(
    viewer_api, service, currency, stored, written
):
    BalanceFactory(service=service, currency=currency, available=Decimal(stored))

    raw = viewer_api.get(url(service)).content.decode()

    assert f'"currency": "{currency}", "amount": {written},' in raw


def test_balances_are_sorted_by_currency_with_more_fields_after_the_documented_ones(
    viewer_api, service
):
    for code in ("USD", "CHF", "EUR"):
        BalanceFactory(service=service, currency=code)

    balances = body(viewer_api.get(url(service)))["balances"]

    assert [b["currency"] for b in balances] == ["CHF", "EUR", "USD"]
    assert list(balances[0]) == [
        "currency",
        "amount",
        "pending",
        "reserved",
        "availableForPayout",
        "version",
        "updatedAt",
        "lastSyncedAt",
    ]


def test_available_for_payout_subtracts_what_open_payouts_hold(viewer_api, service):
    eur = BalanceFactory(service=service, currency="EUR", available=Decimal("1000.00"))
    BalanceFactory(service=service, currency="USD", available=Decimal("50.00"))
    # What payout_create does for an open payout of 100 + 1.5 fee (ended ones hold nothing).
    balance_hold_for_payout(balance=eur, amount=Decimal("101.5"))

    balances = {b["currency"]: b for b in body(viewer_api.get(url(service)))["balances"]}

    assert balances["EUR"]["amount"] == Decimal("1000.00")
    assert balances["EUR"]["availableForPayout"] == Decimal("898.50")
    assert balances["USD"]["availableForPayout"] == Decimal("50.00")


def test_currency_filter_keeps_the_listed_currencies(viewer_api, service):
    for code in ("EUR", "USD", "GBP"):
        BalanceFactory(service=service, currency=code)

    data = body(viewer_api.get(url(service), {"currency": "usd, EUR"}))

    assert [b["currency"] for b in data["balances"]] == ["EUR", "USD"]


def test_an_invalid_currency_in_the_filter_is_a_400_naming_it(viewer_api, service):
    BalanceFactory(service=service, currency="EUR")

    error = assert_error(viewer_api.get(url(service), {"currency": "EUR,XYZ"}), 400)

    assert "XYZ" in error["message"]
    assert "XYZ" in error["details"]["currency"][0]


def test_unknown_service_is_a_404(viewer_api):
    assert_error(viewer_api.get("/api/v1/services/srv_nope/balances"), 404, "not_found")


def test_trailing_slash_works_without_redirect(viewer_api, operator_api, service):
    BalanceFactory(service=service, currency="EUR")

    assert viewer_api.get(url(service, "/")).status_code == 200
    response = send(operator_api, "post", url(service, "/"), {"currency": "USD"})
    assert response.status_code == 201


def test_list_query_count_does_not_depend_on_the_number_of_balances(
    viewer_api, service, django_assert_num_queries
):
    BalanceFactory(service=service, currency="EUR")
    viewer_api.get(url(service))  # records the key's last use, once a minute at most

    def count_queries():
        # 1 the API key with its user; 2 the user's permissions, own and groups' (UNION);
        # 3 the service; 4 its balances (what payouts hold is a column of the row).
        with django_assert_num_queries(4):
            response = viewer_api.get(url(service))
        return len(body(response)["balances"])

    assert count_queries() == 1
    for code in (
        "USD",
        "GBP",
        "JPY",
        "KWD",
        "CHF",
        "NGN",
        "GHS",
        "KES",
        "ZAR",
        "CAD",
        "AUD",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "USDT_TRC20",
        "USDT_ERC20",
    ):
        BalanceFactory(service=service, currency=code)
    Payout.objects.create(service=service, currency="USD", amount=Decimal("1"), destination="d")
    assert count_queries() == 20


# --- Create ----------------------------------------------------------------------------------


def test_create_returns_201_with_the_balance(operator_api, service):
    response = send(operator_api, "post", url(service), {"currency": "usd", "amount": "0"})

    assert response.status_code == 201
    assert response["Location"].endswith(url(service, "/USD"))
    assert response["ETag"] == '"1"'
    data = body(response)
    assert data["serviceId"] == service.public_id
    assert (data["currency"], data["amount"], data["version"]) == ("USD", Decimal("0.00"), 1)
    assert Balance.objects.get(service=service, currency="USD").available == 0


def test_create_takes_an_exact_json_number(operator_api, service):
    response = send(operator_api, "post", url(service), '{"currency": "KWD", "amount": 1234.567}')

    assert response.status_code == 201
    assert b'"amount": 1234.567,' in response.content
    assert Balance.objects.get(service=service, currency="KWD").available == Decimal("1234.567")


def test_create_without_amount_opens_at_zero(operator_api, service):
    response = send(operator_api, "post", url(service), {"currency": "JPY"})

    assert response.status_code == 201
    assert b'"amount": 0,' in response.content


def test_create_for_an_existing_currency_is_a_409(operator_api, eur_balance):
    response = send(operator_api, "post", url(eur_balance.service), {"currency": "EUR"})

    assert_error(response, 409, "already_exists")


def test_create_with_an_unknown_currency_is_a_400(operator_api, service):
    error = assert_error(send(operator_api, "post", url(service), {"currency": "XYZ"}), 400)

    assert "currency" in error["details"]
    assert not Balance.objects.exists()


@pytest.mark.parametrize("amount", ['"12.345"', "12.345", "true", '"abc"', "[1]", "1e-9"])
def test_create_with_a_bad_amount_is_a_400_naming_amount(operator_api, service, amount):
    response = send(
        operator_api, "post", url(service), f'{{"currency": "EUR", "amount": {amount}}}'
    )

    error = assert_error(response, 400, "validation_error")
    assert "amount" in error["details"]
    assert not Balance.objects.exists()


def test_create_without_currency_is_a_400_naming_it(operator_api, service):
    error = assert_error(send(operator_api, "post", url(service), {"amount": "1"}), 400)

    assert "currency" in error["details"]
