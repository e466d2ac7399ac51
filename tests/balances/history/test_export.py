"""Balances across services as CSV: ``GET /api/v1/balances`` (JSON or CSV) and the
Download CSV of the page of balances across services; now and as of a moment."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from balances.actions import balance_create
from balances.history.export import HEADER
from balances.models import Balance
from core.actors import Actor
from core.csvexport import iso_utc
from core.money.currencies import plain_amount
from tests.config.helpers import assert_error, body
from tests.factories import PayoutFactory, ServiceFactory

D = Decimal
FORMULA = "=cmd|' /C calc'!A0"


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.content[:300]
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="balances')
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(HEADER)
    return rows[1:]


def stored_rows(balances) -> list[list[str]]:
    """What the rows must say: the stored values, exactly."""
    return [
        [
            b.service.public_id,
            b.service.name if not b.service.name.startswith("=") else "'" + b.service.name,
            b.currency,
            plain_amount(b.available, b.currency),
            plain_amount(b.pending, b.currency),
            plain_amount(b.reserved, b.currency),
            plain_amount(b.held, b.currency),
            iso_utc(b.updated_at),
            b.updated_by_label,
        ]
        for b in sorted(balances, key=lambda b: (b.service.name, b.service_id, b.currency))
    ]


@pytest.fixture
def fleet(db, operator):
    """Services with balances in currencies of 0, 2, 3 and 8 digits, negative, pending,
    reserved and held figures, and a service whose name is a spreadsheet formula."""
    actor = Actor.for_user(operator)
    acme = ServiceFactory(name="Acme Payments")
    evil = ServiceFactory(name=FORMULA)
    other = ServiceFactory(name='Zeta, "Quoted" & Co')
    balance_create(service=acme, currency="JPY", amount="5000", actor=actor)
    balance_create(service=acme, currency="KWD", amount="-12.345", actor=actor)
    balance_create(service=evil, currency="EUR", amount="-0.01", actor=actor)
    balance_create(service=other, currency="USDT_TRC20", amount="92233720.12345678", actor=actor)
    balance_create(service=other, currency="EUR", amount="12500.75", actor=actor)
    Balance.objects.filter(service=acme, currency="KWD").update(
        pending=D("1.5"), reserved=D("0.25")
    )
    PayoutFactory(service=other, currency="EUR", amount=D("100.00"))  # holds 100.00 (no fee)
    return {"acme": acme, "evil": evil, "other": other}


def all_balances():
    return list(Balance.objects.select_related("service"))


# --- API --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["accept", "format"])
def test_api_csv_parses_back_to_exactly_the_stored_values(fleet, viewer_api, how):
    if how == "accept":
        response = viewer_api.get("/api/v1/balances", headers={"Accept": "text/csv"})
    else:
        response = viewer_api.get("/api/v1/balances?format=csv")
    rows = read_csv(response)
    assert rows == stored_rows(all_balances())
    by_currency = {row[2]: row for row in rows}
    assert by_currency["USDT_TRC20"][3] == "92233720.12345678"
    assert by_currency["JPY"][3:7] == ["5000", "0", "0", "0"]
    assert by_currency["KWD"][3:6] == ["-12.345", "1.500", "0.250"]  # a number stays a number
    assert [r[6] for r in rows if r[1].startswith("Zeta") and r[2] == "EUR"] == ["100.00"]


def test_a_formula_in_a_service_name_is_neutralised(fleet, viewer_api):
    rows = read_csv(viewer_api.get("/api/v1/balances?format=csv"))
    names = {row[1] for row in rows}
    assert "'" + FORMULA in names and FORMULA not in names
    assert 'Zeta, "Quoted" & Co' in names  # quoting survives the round trip


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("currency=eur", lambda b: b.currency == "EUR"),
        ("figure=pending", lambda b: b.pending != 0),
        ("figure=held", lambda b: b.held != 0),
        ("figure=available_for_payout", lambda b: b.available != b.held),
        ("serviceId={acme}", lambda b: b.service.name == "Acme Payments"),
    ],
)
def test_api_csv_carries_the_filters(fleet, viewer_api, query, expected):
    query = query.format(acme=fleet["acme"].public_id)
    rows = read_csv(viewer_api.get(f"/api/v1/balances?{query}&format=csv"))
    wanted = [b for b in all_balances() if expected(b)]
    assert wanted and rows == stored_rows(wanted)


def test_api_json_lists_the_same(fleet, viewer_api):
    data = body(viewer_api.get("/api/v1/balances?currency=EUR"))
    assert data["count"] == 2
    first = data["results"][0]
    assert list(first) == [
        "serviceId", "serviceName", "currency", "available", "pending", "reserved", "held",
        "updatedAt", "updatedBy",
    ]  # fmt: skip
    assert (first["serviceName"], str(first["available"])) == (FORMULA, "-0.01")
    assert str(data["results"][1]["held"]) == "100.00"


def test_api_json_query_count_does_not_grow_with_the_services(fleet, viewer_api):
    def balance_queries() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert viewer_api.get("/api/v1/balances").status_code == 200
        return [q["sql"] for q in queries if "balances_balance" in q["sql"]]

    few = balance_queries()
    for n in range(12):
        balance_create(
            service=ServiceFactory(), currency="GBP", amount=str(n), actor=Actor.system("tests")
        )
    many = balance_queries()
    # The page's count, then the page with the services joined: whatever the number.
    assert len(few) == len(many) == 2
    assert many[0].startswith("SELECT COUNT(*)") and "services_service" in many[1]


def test_api_as_of_exports_the_balances_of_then(world, viewer_api):
    for at, expected in world.states[1:]:
        rows = read_csv(viewer_api.get(f"/api/v1/balances?format=csv&asOf={iso_utc(at)}"))
        mine = [r for r in rows if r[0] == world.service.public_id]
        assert [r[2] for r in mine] == sorted(expected)
        for row in mine:
            available, pending, reserved, _version, updated_at, by = expected[row[2]]
            assert row[3:] == [
                plain_amount(available, row[2]),
                plain_amount(pending, row[2]),
                plain_amount(reserved, row[2]),
                "",  # held: not kept in the history
                iso_utc(updated_at),
                by,
            ]


def test_api_as_of_json_has_no_held(world, viewer_api):
    data = body(viewer_api.get("/api/v1/balances?asOf=2026-11-20T09:05:00Z&currency=EUR"))
    rows = [(r["serviceName"], str(r["available"]), r["held"]) for r in data["results"]]
    assert rows == [("Acme Payments", "1300.00", None), ("Other Ltd", "7.00", None)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("asOf=2026-11-20T09:05:00", "asOf"),
        ("asOf=tomorrow", "asOf"),
        ("asOf=9999-01-01T00:00:00Z", "asOf"),
        ("asOf=2026-11-20T09:05:00Z&figure=held", "figure"),
        ("currency=XXXX", "currency"),
        ("figure=everything", "figure"),
        ("serviceId=bad id", "serviceId"),
    ],
)
@pytest.mark.parametrize("as_csv", [False, True])
def test_api_bad_filters_are_400_in_the_envelope(world, viewer_api, query, field, as_csv):
    response = viewer_api.get(f"/api/v1/balances?{query}" + ("&format=csv" if as_csv else ""))
    error = assert_error(response, 400)
    assert field in error["details"], error


@pytest.mark.parametrize(
    ("caller", "status"),
    [("anonymous", 401), ("bad_key", 401), ("nobody", 403), ("viewer", 200), ("read_only", 200)],
)
def test_api_permissions(fleet, request, caller, status):
    from tests.config.helpers import api_client_for

    client = api_client_for(request, caller)
    response = client.get("/api/v1/balances", headers={"Accept": "text/csv"})
    assert response.status_code == status
    if status != 200:
        assert_error(response, status)


# --- the page ----------------------------------------------------------------------------


def test_the_page_offers_download_csv_with_its_filters(fleet, viewer_client):
    html = viewer_client.get("/balances/?currency=EUR&figure=held").content.decode()
    assert 'href="?currency=EUR&amp;figure=held&amp;format=csv"' in html
    assert ">Download CSV<" in html
    assert 'name="as_of"' in html and 'type="datetime-local"' in html
    assert '<input type="hidden" name="currency" value="EUR">' in html


def test_the_page_download_is_the_filtered_list(fleet, viewer_client):
    rows = read_csv(viewer_client.get("/balances/?currency=EUR&figure=held&format=csv"))
    assert rows == stored_rows([b for b in all_balances() if b.currency == "EUR" and b.held])
    everything = read_csv(viewer_client.get("/balances/?format=csv"))
    assert everything == stored_rows(all_balances())


def test_the_page_download_as_of_a_moment(world, viewer_client):
    response = viewer_client.get("/balances/?currency=EUR&format=csv&as_of=2026-11-20T09:05")
    assert "as-of-20261120T090500Z" in response["Content-Disposition"]
    rows = read_csv(response)
    assert [(r[1], r[3], r[4], r[6]) for r in rows] == [
        ("Acme Payments", "1300.00", "25.00", ""),
        ("Other Ltd", "7.00", "0.00", ""),
    ]


@pytest.mark.parametrize(
    "query",
    ["as_of=yesterday", "as_of=9999-01-01T00:00", "as_of=2026-11-20T09:05&figure=held"],
)
def test_the_page_refuses_a_bad_moment_with_a_form_error(world, viewer_client, query):
    response = viewer_client.get(f"/balances/?format=csv&{query}")
    assert response.status_code == 400
    assert not response.streaming
    html = response.content.decode()
    assert 'id="id_as_of_error"' in html
    assert 'aria-describedby="id_as_of_helptext id_as_of_error"' in html


def test_the_page_download_needs_the_page_permission(fleet, clients):
    assert clients["nobody"].get("/balances/?format=csv").status_code == 403
    assert clients["anonymous"].get("/balances/?format=csv").status_code == 302


def test_the_csv_is_one_streamed_query_whatever_the_number_of_balances(fleet, viewer_api):
    def balance_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = viewer_api.get("/api/v1/balances?format=csv")
            rows = read_csv(response)  # consumed here: the rows are produced while sent
        return len(rows), len([q for q in queries if "balances_balance" in q["sql"]])

    few_rows, few = balance_queries()
    for n in range(30):
        balance_create(
            service=ServiceFactory(), currency="GBP", amount=str(n), actor=Actor.system("tests")
        )
    many_rows, many = balance_queries()
    assert (many_rows - few_rows, few, many) == (30, 1, 1)
