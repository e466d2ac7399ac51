"""Sync runs as CSV: a service's Sync runs page (Download CSV), its list in the API and the
list of every service's runs (``GET /api/v1/sync-runs``), JSON and CSV, with their filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from balances.models import SyncRun
from balances.sync_exports import SYNC_RUN_HEADER
from tests.config.helpers import api_client_for, assert_error, body
from tests.csv_helpers import read_csv
from tests.factories import ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 27, 18, 0, 0, 250000, tzinfo=UTC)


def make_run(service, *, at: datetime = T0, **fields) -> SyncRun:
    defaults = {
        "provider_kind": "wise",
        "trigger": SyncRun.Trigger.SCHEDULE,
        "status": SyncRun.Status.SUCCEEDED,
        "created_at": at,
        "started_at": at + timedelta(seconds=1),
        "finished_at": at + timedelta(seconds=3, microseconds=500000),
        "attempts": 1,
    }
    return SyncRun.objects.create(service=service, **{**defaults, **fields})


@pytest.fixture
def shop(db):
    return ServiceFactory(name="Runs Ltd", country="GB")


def test_a_services_runs_export_every_stored_value(viewer_client, shop):
    requester = UserFactory(username="otto-runs", role="operator")
    failed = make_run(
        shop,
        at=T0 + timedelta(hours=1),
        trigger=SyncRun.Trigger.BUTTON,
        requested_by=requester,
        status=SyncRun.Status.FAILED,
        attempts=5,
        error_category="auth",
        error_message="=The provider refused the credentials",
    )
    ok = make_run(shop, updated_count=2, unchanged_count=3, created_count=1, skipped_count=4)
    queued = make_run(
        shop,
        at=T0 + timedelta(hours=2),
        status=SyncRun.Status.QUEUED,
        started_at=None,
        finished_at=None,
        attempts=0,
    )
    make_run(ServiceFactory(name="Other"))  # another service's run stays out
    header, rows = read_csv(viewer_client.get(f"/services/{shop.public_id}/sync-runs/?format=csv"))
    assert header == list(SYNC_RUN_HEADER)
    assert [row["run_id"] for row in rows] == [queued.public_id, failed.public_id, ok.public_id]
    first, second, third = rows
    assert second["requested_by"] == "otto-runs" and second["trigger"] == "button"
    assert (second["status"], second["attempts"]) == ("failed", "5")
    assert second["error_category"] == "auth"
    assert second["error_message"] == "'=The provider refused the credentials"
    assert third == {
        "run_id": ok.public_id,
        "service_id": shop.public_id,
        "service_name": "Runs Ltd",
        "provider": "wise",
        "trigger": "schedule",
        "requested_by": "",
        "status": "succeeded",
        "created_at": "2026-11-27T18:00:00.250000Z",
        "started_at": "2026-11-27T18:00:01.250000Z",
        "finished_at": "2026-11-27T18:00:03.750000Z",
        "duration_seconds": "2.500000",
        "attempts": "1",
        "updated_count": "2",
        "unchanged_count": "3",
        "created_count": "1",
        "skipped_count": "4",
        "not_reported_count": "0",
        "error_category": "",
        "error_message": "",
    }
    assert (first["started_at"], first["finished_at"], first["duration_seconds"]) == ("", "", "")


def test_the_sync_runs_page_links_its_export(viewer_client, shop):
    make_run(shop)
    page = viewer_client.get(f"/services/{shop.public_id}/sync-runs/")
    assert b'<a class="btn btn-download" href="?format=csv" download>Download CSV</a>' in (
        page.content
    )


def test_the_page_export_costs_the_same_queries_for_more_runs(
    viewer_client, shop, django_assert_num_queries
):
    make_run(shop)
    # the session, the user, their own and their groups' permissions (one UNION); the
    # service; the runs with their service and requester, on one cursor
    with django_assert_num_queries(5):
        assert (
            len(read_csv(viewer_client.get(f"/services/{shop.public_id}/sync-runs/?format=csv"))[1])
            == 1
        )
    for hour in range(1, 9):
        make_run(shop, at=T0 + timedelta(hours=hour), requested_by=UserFactory(role="operator"))
    with django_assert_num_queries(5):
        assert (
            len(read_csv(viewer_client.get(f"/services/{shop.public_id}/sync-runs/?format=csv"))[1])
            == 9
        )


def test_who_may_export_a_services_runs(clients, shop):
    make_run(shop)
    url = f"/services/{shop.public_id}/sync-runs/?format=csv"
    assert clients["anonymous"].get(url).status_code == 302
    assert clients["nobody"].get(url).status_code == 403
    assert len(read_csv(clients["viewer"].get(url))[1]) == 1


# --- the API ------------------------------------------------------------------------------


@pytest.fixture
def runs(shop):
    other = ServiceFactory(name="Elsewhere")
    return {
        "old": make_run(shop, at=T0 - timedelta(days=2), provider_kind="payop"),
        "failed": make_run(
            shop,
            at=T0,
            status=SyncRun.Status.FAILED,
            trigger=SyncRun.Trigger.API,
            error_category="timeout",
        ),
        "late": make_run(shop, at=T0 + timedelta(days=1), trigger=SyncRun.Trigger.BUTTON),
        "other": make_run(other, at=T0 + timedelta(hours=5), provider_kind="finix"),
    }


def ids(rows, key="run_id"):
    return [row[key] for row in rows]


def test_a_services_runs_answer_json_and_csv_with_the_same_filters(viewer_api, shop, runs):
    url = f"/api/v1/services/{shop.public_id}/sync-runs"
    assert [r["syncRunId"] for r in body(viewer_api.get(url))["results"]] == [
        runs["late"].public_id,
        runs["failed"].public_id,
        runs["old"].public_id,
    ]
    query = "?status=failed&trigger=api&dateFrom=2026-11-27&dateTo=2026-11-27"
    as_json = body(viewer_api.get(url + query))["results"]
    assert [r["syncRunId"] for r in as_json] == [runs["failed"].public_id]
    by_accept = read_csv(viewer_api.get(url + query, headers={"Accept": "text/csv"}))
    by_format = read_csv(viewer_api.get(url + query + "&format=csv"))
    assert by_accept == by_format
    assert ids(by_accept[1]) == [runs["failed"].public_id]
    assert by_accept[1][0]["error_category"] == "timeout"
    payop = read_csv(viewer_api.get(url + "?provider=payop&format=csv"))[1]
    assert ids(payop) == [runs["old"].public_id]


def test_every_services_runs_through_the_api(viewer_api, shop, runs):
    everything = body(viewer_api.get("/api/v1/sync-runs"))
    assert everything["count"] == 4
    assert everything["results"][0]["syncRunId"] == runs["late"].public_id
    rows = read_csv(viewer_api.get("/api/v1/sync-runs?dateFrom=2026-11-27&format=csv"))[1]
    assert ids(rows) == [runs["late"].public_id, runs["other"].public_id, runs["failed"].public_id]
    mine = read_csv(
        viewer_api.get(
            f"/api/v1/sync-runs?serviceId={shop.public_id}", headers={"Accept": "text/csv"}
        )
    )[1]
    assert set(ids(mine)) == {
        runs["old"].public_id,
        runs["failed"].public_id,
        runs["late"].public_id,
    }
    assert {row["service_id"] for row in mine} == {shop.public_id}


@pytest.mark.parametrize(
    "query",
    [
        "status=lost",
        "provider=nobody",
        "trigger=cron",
        "dateFrom=27/11/2026",
        "dateFrom=2026-11-28&dateTo=2026-11-27",
    ],
)
def test_a_bad_filter_asked_as_csv_is_a_json_400(viewer_api, shop, runs, query):
    for url in (f"/api/v1/services/{shop.public_id}/sync-runs", "/api/v1/sync-runs"):
        response = viewer_api.get(f"{url}?{query}", headers={"Accept": "text/csv"})
        assert_error(response, 400, "validation_error")


def test_an_unknown_service_is_a_404(viewer_api, runs):
    assert_error(viewer_api.get("/api/v1/sync-runs?serviceId=srv_nope&format=csv"), 404)
    assert_error(viewer_api.get("/api/v1/services/srv_nope/sync-runs?format=csv"), 404)


@pytest.mark.parametrize(
    ("caller", "status"),
    [("anonymous", 401), ("bad_key", 401), ("nobody", 403), ("read_only", 200), ("viewer", 200)],
)
def test_who_may_list_every_services_runs(request, runs, caller, status):
    client = api_client_for(request, caller)
    for headers in ({}, {"Accept": "text/csv"}):
        response = client.get("/api/v1/sync-runs", headers=headers)
        if status != 200:
            assert_error(response, status)
        elif headers:
            assert len(read_csv(response)[1]) == 4
        else:
            assert body(response)["count"] == 4


def test_the_api_lists_cost_the_same_queries_for_more_runs(
    viewer_api, shop, django_assert_num_queries
):
    make_run(shop)
    viewer_api.get("/api/v1/sync-runs")  # the key's first use is recorded here
    # the key with its user, the user's permissions (one union); the runs with their
    # service and requester, on one cursor
    with django_assert_num_queries(3):
        assert len(read_csv(viewer_api.get("/api/v1/sync-runs?format=csv"))[1]) == 1
    # ... and as JSON: the ETag's validator (one aggregate), the count and one page with the
    # service joined
    with django_assert_num_queries(5):
        assert body(viewer_api.get("/api/v1/sync-runs"))["count"] == 1
    for hour in range(1, 9):
        make_run(ServiceFactory(), at=T0 + timedelta(hours=hour))
    with django_assert_num_queries(3):
        assert len(read_csv(viewer_api.get("/api/v1/sync-runs?format=csv"))[1]) == 9
    with django_assert_num_queries(5):
        assert body(viewer_api.get("/api/v1/sync-runs"))["count"] == 9


def test_without_server_side_cursors_the_runs_come_in_keyset_batches(
    viewer_api, shop, runs, monkeypatch
):
    from django.db import connection

    from core import csvexport

    with_cursor = read_csv(viewer_api.get("/api/v1/sync-runs?format=csv"))
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    monkeypatch.setattr(csvexport, "CHUNK_SIZE", 3)
    assert read_csv(viewer_api.get("/api/v1/sync-runs?format=csv")) == with_cursor
    assert len(with_cursor[1]) == 4
