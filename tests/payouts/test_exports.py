"""Download CSV of a service's payouts, on the page and through the API: every row the
filters select, exact amounts with their currency's digits, UTC times, formulas
neutralised, streamed, at a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.actors import Actor
from payouts import actions
from payouts.exports import PAYOUT_HEADER
from payouts.models import Payout
from tests.config.helpers import assert_error
from tests.csv_helpers import read_csv
from tests.factories import BalanceFactory, FeeProfileFactory, PayoutFactory, ServiceFactory

pytestmark = pytest.mark.django_db
D = Decimal
PAYOUT = {"operation": "payout"}


@pytest.fixture
def shop(db):
    """A service priced in currencies of 0, 2, 3 and 8 digits, funded in each."""
    profile = FeeProfileFactory(
        name="Export pricing",
        rules=[
            {**PAYOUT, "currency": "JPY", "fixed_amount": "15", "minimum_payout_amount": "1"},
            {**PAYOUT, "currency": "KWD", "fixed_amount": "0.125", "minimum_payout_amount": "1"},
            {
                **PAYOUT,
                "currency": "USDT_TRC20",
                "fixed_amount": "0.00000001",
                "minimum_payout_amount": "0.00000001",
            },
            {
                **PAYOUT,
                "currency": "EUR",
                "percentage": "1.5",
                "fixed_amount": "0.25",
                "minimum_payout_amount": "1.00",
            },
        ],
    )
    service = ServiceFactory(name="Export Ltd", country="DE", fee_profile=profile)
    for code, funds in [
        ("JPY", "1000000"),
        ("KWD", "1000.000"),
        ("USDT_TRC20", "100.00000000"),
        ("EUR", "10000.00"),
    ]:
        BalanceFactory(service=service, currency=code, available=D(funds))
    return service


def pay(service, currency: str, amount: str, **kwargs) -> Payout:
    return PayoutFactory(service=service, currency=currency, amount=D(amount), **kwargs)


def page_csv(client, service, query: str = ""):
    return client.get(f"/services/{service.public_id}/payouts/?{query}format=csv")


def by_id(rows):
    return {row["payout_id"]: row for row in rows}


def test_the_export_has_the_header_and_each_stored_value_exactly(viewer_client, shop):
    jpy = pay(shop, "JPY", "5000")
    kwd = pay(shop, "KWD", "12.345", status=Payout.Status.PAID)
    usdt = pay(shop, "USDT_TRC20", "0.12345678", idempotency_key="order-77")
    header, rows = read_csv(page_csv(viewer_client, shop))
    assert header == list(PAYOUT_HEADER)
    got = by_id(rows)
    assert (got[jpy.public_id]["amount"], got[jpy.public_id]["fee"]) == ("5000", "15")
    assert got[jpy.public_id]["total"] == "5015"
    assert (got[kwd.public_id]["amount"], got[kwd.public_id]["total"]) == ("12.345", "12.470")
    assert got[usdt.public_id]["fee"] == "0.00000001"
    assert got[usdt.public_id]["total"] == "0.12345679"
    assert got[usdt.public_id]["idempotency_key"] == "order-77"
    for payout in (jpy, kwd, usdt):
        payout.refresh_from_db()
        row = got[payout.public_id]
        # Read back with the currency's digits, each is the stored Decimal exactly.
        assert D(row["amount"]) == payout.amount and D(row["fee"]) == payout.fee
        assert row["currency"] == payout.currency and row["status"] == payout.status
        assert row["service_id"] == shop.public_id and row["service_name"] == "Export Ltd"
        assert row["created_by"] == payout.created_by_label
        assert datetime.fromisoformat(row["created_at"]) == payout.created_at
        assert row["created_at"].endswith("Z")
        assert datetime.fromisoformat(row["updated_at"]) == payout.updated_at
    assert "request_fingerprint" not in header and kwd.request_fingerprint not in str(rows)


def test_status_times_come_from_the_timeline(viewer_client, shop):
    paid = pay(shop, "EUR", "100.00", status=Payout.Status.PAID)
    waiting = pay(shop, "EUR", "20.00")
    processing = paid.events.get(to_status="processing").created_at
    got = by_id(read_csv(page_csv(viewer_client, shop))[1])
    assert datetime.fromisoformat(got[paid.public_id]["processing_at"]) == processing
    assert datetime.fromisoformat(got[paid.public_id]["ended_at"]) == paid.ended_at
    assert processing.tzinfo is not None and paid.ended_at.astimezone(UTC) == paid.ended_at
    assert got[waiting.public_id]["processing_at"] == got[waiting.public_id]["ended_at"] == ""


def test_every_row_the_filters_select_newest_first_across_pages(viewer_client, shop):
    made = [pay(shop, "EUR", f"{n}.00") for n in range(5, 35)]  # 30: more than one page
    pay(shop, "JPY", "700")
    failed = pay(shop, "EUR", "9.99", status=Payout.Status.FAILED)
    _, rows = read_csv(page_csv(viewer_client, shop, "currency=EUR&status=pending&"))
    assert [row["payout_id"] for row in rows] == [p.public_id for p in reversed(made)]
    _, failed_rows = read_csv(page_csv(viewer_client, shop, "status=failed&"))
    assert [row["payout_id"] for row in failed_rows] == [failed.public_id]
    _, everything = read_csv(page_csv(viewer_client, shop))
    assert len(everything) == 32
    created = [datetime.fromisoformat(row["created_at"]) for row in everything]
    assert created == sorted(created, reverse=True)


def test_the_page_links_the_export_with_its_active_filters(viewer_client, shop):
    pay(shop, "EUR", "10.00")
    page = viewer_client.get(f"/services/{shop.public_id}/payouts/?status=pending&currency=eur")
    assert page.status_code == 200
    assert b'href="?status=pending&amp;currency=EUR&amp;format=csv" download' in page.content
    bare = viewer_client.get(f"/services/{shop.public_id}/payouts/")
    assert b'href="?format=csv" download>Download CSV</a>' in bare.content


def test_formulas_are_neutralised_and_negative_looking_numbers_are_not(viewer_client, shop):
    evil = pay(
        shop,
        "EUR",
        "10.00",
        destination='=HYPERLINK("http://evil.example","x")',
        idempotency_key="-1+1",
    )
    failed = pay(shop, "EUR", "11.00")
    failed = actions.payout_transition(
        payout=failed, to_status="failed", actor=Actor.system("@ops"), reason="+cmd|' /C calc'!A0"
    )
    got = by_id(read_csv(page_csv(viewer_client, shop))[1])
    assert got[evil.public_id]["destination"] == "'" + '=HYPERLINK("http://evil.example","x")'
    assert got[evil.public_id]["idempotency_key"] == "'-1+1"
    assert got[failed.public_id]["failure_reason"] == "'+cmd|' /C calc'!A0"
    assert got[failed.public_id]["amount"] == "11.00"


def test_the_export_streams_at_a_fixed_number_of_queries(
    viewer_client, shop, django_assert_num_queries
):
    def export_with_queries(expected: int) -> int:
        with django_assert_num_queries(expected):
            # the session, the user, their own and their groups' permissions (one UNION);
            # the service; the balances (cards, for the currency filter's choices); the
            # currencies paid out in; the payouts with their service and processing time, on
            # one cursor
            response = page_csv(viewer_client, shop, "currency=EUR&")
            rows = read_csv(response)[1]
        return len(rows)

    pay(shop, "EUR", "10.00")
    assert export_with_queries(7) == 1
    for n in range(12):
        pay(shop, "EUR", f"{n + 20}.00", status=Payout.Status.PAID)
    assert export_with_queries(7) == 13


def test_who_may_export_from_the_page(clients, shop):
    pay(shop, "EUR", "10.00")
    url = f"/services/{shop.public_id}/payouts/?format=csv"
    anonymous = clients["anonymous"].get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert clients["nobody"].get(url).status_code == 403
    for role in ("viewer", "operator", "admin"):
        assert len(read_csv(clients[role].get(url))[1]) == 1


# --- the API ------------------------------------------------------------------------------


def api_url(service) -> str:
    return f"/api/v1/services/{service.public_id}/payouts"


def test_the_api_answers_csv_to_accept_and_to_format(viewer_api, shop):
    kwd = pay(shop, "KWD", "1.500")
    eur = pay(shop, "EUR", "10.00")
    by_accept = read_csv(viewer_api.get(api_url(shop), headers={"Accept": "text/csv"}))
    by_format = read_csv(viewer_api.get(api_url(shop) + "?format=csv"))
    assert by_accept == by_format
    header, rows = by_accept
    assert header == list(PAYOUT_HEADER)
    assert [row["payout_id"] for row in rows] == [eur.public_id, kwd.public_id]
    assert rows[1]["amount"] == "1.500"
    json_answer = viewer_api.get(api_url(shop))
    assert json_answer["Content-Type"] == "application/json"
    assert json_answer.json()["count"] == 2


def test_the_api_export_carries_the_filters_and_ignores_pagination(viewer_api, shop):
    for n in range(3):
        pay(shop, "EUR", f"{n + 10}.00")
    pay(shop, "JPY", "900")
    rows = read_csv(
        viewer_api.get(api_url(shop) + "?currency=eur&status=pending&pageSize=1&format=csv")
    )[1]
    assert [row["currency"] for row in rows] == ["EUR"] * 3


def test_a_bad_filter_with_accept_csv_is_a_json_error(viewer_api, shop):
    response = viewer_api.get(api_url(shop) + "?status=lost", headers={"Accept": "text/csv"})
    error = assert_error(response, 400, "validation_error")
    assert "status" in error["details"]
    missing = viewer_api.get("/api/v1/services/srv_nope/payouts?format=csv")
    assert_error(missing, 404, "not_found")


@pytest.mark.parametrize(
    ("caller", "status"),
    [("anonymous", 401), ("bad_key", 401), ("nobody", 403), ("read_only", 200), ("viewer", 200)],
)
def test_who_may_export_through_the_api(request, shop, caller, status):
    from tests.config.helpers import api_client_for

    pay(shop, "EUR", "10.00")
    client = api_client_for(request, caller)
    response = client.get(api_url(shop), headers={"Accept": "text/csv"})
    if status == 200:
        assert len(read_csv(response)[1]) == 1
    else:
        assert_error(response, status)


def test_the_api_export_costs_the_same_queries_for_more_rows(
    viewer_api, shop, django_assert_num_queries
):
    pay(shop, "EUR", "10.00")
    viewer_api.get(api_url(shop))  # the key's first use is recorded (one more query) here
    # the key with its user, the user's permissions (one union); the service; the payouts
    # with their service and processing time, on one cursor
    with django_assert_num_queries(4) as one:
        assert len(read_csv(viewer_api.get(api_url(shop) + "?format=csv"))[1]) == 1
    for n in range(10):
        pay(shop, "EUR", f"{n + 20}.00")
    with django_assert_num_queries(len(one.captured_queries)):
        assert len(read_csv(viewer_api.get(api_url(shop) + "?format=csv"))[1]) == 11


def test_without_server_side_cursors_the_export_reads_keyset_batches(
    viewer_client, shop, monkeypatch, django_assert_num_queries
):
    """As behind a transaction-pooling pooler (DISABLE_SERVER_SIDE_CURSORS): the same rows,
    in batches of keys then rows."""
    from django.db import connection

    from core import csvexport

    made = [pay(shop, "EUR", f"{n + 10}.00") for n in range(5)]
    with_cursor = read_csv(page_csv(viewer_client, shop))
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    monkeypatch.setattr(csvexport, "CHUNK_SIZE", 2)
    # as before, but the payouts in 3 batches of at most 2: each its keys, then its rows
    with django_assert_num_queries(6 + 6):
        assert read_csv(page_csv(viewer_client, shop)) == with_cursor
    assert [row["payout_id"] for row in with_cursor[1]] == [p.public_id for p in reversed(made)]


def test_csv_is_offered_on_the_list_only_not_on_creation(operator_api, shop):
    response = operator_api.post(
        api_url(shop),
        {"currency": "EUR", "amount": "10.00", "destination": "IBAN"},
        content_type="application/json",
        headers={"Accept": "text/csv"},
    )
    assert_error(response, 406, "not_acceptable")
    assert not Payout.objects.exists()
