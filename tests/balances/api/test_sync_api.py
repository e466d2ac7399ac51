"""POST /services/{id}/balances/sync, GET /sync-runs/{id}, GET /services/{id}/sync-runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from balances.connections.actions import connection_save
from balances.models import SyncRun
from core.actors import Actor
from tests.config.helpers import assert_error, body

pytestmark = pytest.mark.django_db

RUN_FIELDS = {
    "syncRunId",
    "serviceId",
    "provider",
    "trigger",
    "status",
    "createdAt",
    "startedAt",
    "finishedAt",
    "result",
    "error",
}


@pytest.fixture
def connected(service):
    connection_save(
        service=service, kind="syncpay", actor=Actor.system(), credentials={"apiKey": "sk_test_1"}
    )
    return service


def sync_url(service) -> str:
    return f"/api/v1/services/{service.public_id}/balances/sync"


def test_sync_is_accepted_with_the_run_id(operator_api, operator, connected):
    response = operator_api.post(sync_url(connected))

    assert response.status_code == 202
    data = body(response)
    run = SyncRun.objects.get()
    assert data["syncRunId"] == run.public_id
    assert set(data) == RUN_FIELDS
    assert (data["serviceId"], data["trigger"], data["status"]) == (
        connected.public_id,
        "api",
        "queued",
    )
    assert data["error"] is None and data["result"] is None
    assert response["Location"].endswith(f"/api/v1/sync-runs/{run.public_id}")
    assert run.requested_by == operator


def test_sync_while_one_is_running_is_a_409_with_its_id(operator_api, connected):
    first = body(operator_api.post(sync_url(connected)))["syncRunId"]

    error = assert_error(operator_api.post(sync_url(connected)), 409, "sync_already_running")

    assert error["details"]["syncRunId"] == first
    assert SyncRun.objects.count() == 1


def test_sync_without_a_provider_is_a_409(operator_api, service):
    assert_error(operator_api.post(sync_url(service)), 409, "no_provider")


def test_sync_of_an_unknown_service_is_a_404(operator_api):
    assert_error(operator_api.post("/api/v1/services/srv_nope/balances/sync"), 404)


def test_get_on_sync_is_a_405(operator_api, connected):
    assert_error(operator_api.get(sync_url(connected)), 405, "method_not_allowed")


def test_a_finished_run_shows_result_and_no_error(viewer_api, connected):
    now = timezone.now()
    run = SyncRun.objects.create(
        service=connected,
        provider_kind="syncpay",
        trigger="schedule",
        status="succeeded",
        started_at=now - timedelta(seconds=2),
        finished_at=now,
        result={"counts": {"updated": 1}, "currencies": [{"currency": "EUR"}]},
    )

    data = body(viewer_api.get(f"/api/v1/sync-runs/{run.public_id}"))

    assert data["status"] == "succeeded"
    assert data["result"]["counts"] == {"updated": 1}
    assert data["error"] is None
    assert data["startedAt"] and data["finishedAt"]


def test_a_failed_run_shows_its_error(viewer_api, connected):
    run = SyncRun.objects.create(
        service=connected,
        provider_kind="syncpay",
        trigger="api",
        status="failed",
        finished_at=timezone.now(),
        error_category="auth",
        error_message="Key refused (401).",
    )

    data = body(viewer_api.get(f"/api/v1/sync-runs/{run.public_id}/"))

    assert data["error"] == {"category": "auth", "message": "Key refused (401)."}


def test_an_unknown_run_is_a_404(viewer_api):
    assert_error(viewer_api.get("/api/v1/sync-runs/run_nope"), 404, "not_found")


def test_runs_of_a_service_newest_first_with_constant_queries(
    viewer_api, connected, django_assert_num_queries
):
    def add_run(minutes_ago: int) -> SyncRun:
        return SyncRun.objects.create(
            service=connected,
            provider_kind="syncpay",
            trigger="schedule",
            status="succeeded",
            created_at=timezone.now() - timedelta(minutes=minutes_ago),
        )

    add_run(10)
    url = f"/api/v1/services/{connected.public_id}/sync-runs"
    viewer_api.get(url)  # records the key's last use

    def ids() -> list[str]:
        # 1 key + user; 2 permissions; 3 the service; 4 the ETag's validator (one
        # aggregate); 5 the count; 6 the page.
        with django_assert_num_queries(6):
            response = viewer_api.get(url)
        return [r["syncRunId"] for r in body(response)["results"]]

    assert len(ids()) == 1
    newest = add_run(1)
    for minutes in range(2, 9):
        add_run(minutes)
    listed = ids()
    assert len(listed) == 9
    assert listed[0] == newest.public_id
