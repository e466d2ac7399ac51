"""Download CSV on the lists across services: every service's sync runs (/sync-runs/) and
the payouts waiting (/payouts/), carrying the page's filters, at a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from balances.models import SyncRun
from balances.sync_exports import SYNC_RUN_HEADER
from payouts.exports import PAYOUT_HEADER
from payouts.models import Payout
from tests.csv_helpers import read_csv
from tests.factories import PayoutFactory, ServiceFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def make_run(service, at: datetime, **fields) -> SyncRun:
    fields = {"provider_kind": "wise", "trigger": "schedule", "status": "succeeded", **fields}
    return SyncRun.objects.create(service=service, created_at=at, **fields)


@pytest.fixture
def runs(db):
    north, south = ServiceFactory(name="North"), ServiceFactory(name="South")
    return {
        "north_failed": make_run(north, T0, status="failed", error_message="-rm everything"),
        "north_ok": make_run(north, T0 + timedelta(days=1)),
        "south_button": make_run(south, T0 + timedelta(hours=3), trigger="button"),
        "south_finix": make_run(south, T0 - timedelta(days=3), provider_kind="finix"),
    }


def test_the_sync_runs_export_carries_each_filter(viewer_client, runs):
    def exported(query: str) -> list[str]:
        header, rows = read_csv(viewer_client.get(f"/sync-runs/?{query}format=csv"))
        assert header == list(SYNC_RUN_HEADER)
        return [row["run_id"] for row in rows]

    pid = {name: run.public_id for name, run in runs.items()}
    assert exported("") == [
        pid["north_ok"],
        pid["south_button"],
        pid["north_failed"],
        pid["south_finix"],
    ]
    assert exported("status=failed&") == [pid["north_failed"]]
    assert exported("provider=finix&") == [pid["south_finix"]]
    assert exported("trigger=button&") == [pid["south_button"]]
    assert exported("date_from=2026-11-27&date_to=2026-11-27&") == [
        pid["south_button"],
        pid["north_failed"],
    ]
    # An invalid filter is ignored, as on the page: the others still apply.
    assert exported("status=lost&trigger=button&") == [pid["south_button"]]


def test_the_sync_runs_page_links_the_export_with_its_filters(viewer_client, runs):
    page = viewer_client.get("/sync-runs/?status=failed&date_from=2026-11-27&provider=")
    html = page.content.decode()
    assert 'href="?status=failed&amp;date_from=2026-11-27&amp;format=csv" download' in html
    _, rows = read_csv(
        viewer_client.get("/sync-runs/?status=failed&date_from=2026-11-27&format=csv")
    )
    assert [row["error_message"] for row in rows] == ["'-rm everything"]


def test_the_sync_runs_export_costs_the_same_queries_for_more_runs(
    viewer_client, runs, django_assert_num_queries
):
    # the session, the user, their own and their groups' permissions (one UNION); the runs
    # with their service and requester, on one cursor
    with django_assert_num_queries(4):
        assert len(read_csv(viewer_client.get("/sync-runs/?format=csv"))[1]) == 4
    for day in range(1, 6):
        make_run(ServiceFactory(), T0 + timedelta(days=day, hours=1))
    with django_assert_num_queries(4):
        assert len(read_csv(viewer_client.get("/sync-runs/?format=csv"))[1]) == 9


@pytest.fixture
def waiting(db):
    north, south = ServiceFactory(name="North"), ServiceFactory(name="South")
    return {
        "north_eur": PayoutFactory(service=north, amount=Decimal("10.00")),
        "south_eur": PayoutFactory(service=south, amount=Decimal("20.00"), status="processing"),
        "south_jpy": PayoutFactory(
            service=south, currency="JPY", amount=Decimal("700"), funds=Decimal("100000")
        ),
        "paid": PayoutFactory(service=north, amount=Decimal("30.00"), status=Payout.Status.PAID),
    }


def test_the_payouts_waiting_export_carries_the_filters_oldest_first(viewer_client, waiting):
    def exported(query: str) -> list[dict[str, str]]:
        header, rows = read_csv(viewer_client.get(f"/payouts/?{query}format=csv"))
        assert header == list(PAYOUT_HEADER)
        return rows

    pid = {name: payout.public_id for name, payout in waiting.items()}
    everything = exported("")
    assert [row["payout_id"] for row in everything] == [
        pid["north_eur"],
        pid["south_eur"],
        pid["south_jpy"],
    ]
    south = waiting["south_eur"].service.public_id
    assert [row["payout_id"] for row in exported(f"service={south}&")] == [
        pid["south_eur"],
        pid["south_jpy"],
    ]
    jpy = exported("currency=JPY&")
    assert [(row["payout_id"], row["amount"], row["currency"]) for row in jpy] == [
        (pid["south_jpy"], "700", "JPY")
    ]


def test_the_payouts_waiting_page_links_its_export(viewer_client, waiting):
    south = waiting["south_eur"].service.public_id
    page = viewer_client.get(f"/payouts/?currency=EUR&service={south}")
    assert (
        f'href="?currency=EUR&amp;service={south}&amp;format=csv" download'.encode() in page.content
    )


def test_who_may_export_the_lists_across_services(clients, runs, waiting):
    for url in ("/sync-runs/?format=csv", "/payouts/?format=csv"):
        assert clients["anonymous"].get(url).status_code == 302
        assert clients["nobody"].get(url).status_code == 403
        for role in ("viewer", "operator", "admin"):
            assert read_csv(clients[role].get(url))[1], (url, role)
