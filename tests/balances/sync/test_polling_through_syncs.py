"""A client polling the services list keeps its 304 through syncs that change nothing it
shows: a sync moves the connection's schedule and adds a run of the same status, neither of
which the list shows.  A sync that changes a balance, or fails, makes the list new."""

from __future__ import annotations

import pytest

from balances.models import SyncRun
from balances.sync.execute import sync_execute
from tests.balances.sync.test_sync_cost import fleet_service
from tests.core.api.test_list_etags import assert_not_modified, assert_stale, fresh_tag
from tests.provider_server import SYNCPAY_PATH, syncpay_body

pytestmark = pytest.mark.django_db
SERVICES = "/api/v1/services"


def synced(service) -> str:
    run = SyncRun.objects.create(service=service, provider_kind="syncpay", trigger="schedule")
    return sync_execute(run_public_id=run.public_id, service_id=service.pk).status


def test_the_services_list_keeps_its_304_through_a_sync_that_changes_nothing(
    viewer_api, provider, connect
):
    service = fleet_service(connect, provider.url, ["USD", "EUR"])
    provider.route(SYNCPAY_PATH, syncpay_body(("USD", "5.00", "0.00"), ("EUR", "7.00", "0.00")))
    assert synced(service) == "succeeded"
    tag = fresh_tag(viewer_api, SERVICES)

    # The same balances again: a new run (same status), the connection's last success and
    # next sync moved, the balances stamped as synced; the list shows none of it.
    assert synced(service) == "succeeded"
    assert SyncRun.objects.filter(service=service).count() == 2
    assert_not_modified(viewer_api, SERVICES, tag)

    # A balance changes: its last change and the list move.
    provider.route(SYNCPAY_PATH, syncpay_body(("USD", "6.00", "0.00"), ("EUR", "7.00", "0.00")))
    assert synced(service) == "succeeded"
    tag = assert_stale(viewer_api, SERVICES, tag)
    assert_not_modified(viewer_api, SERVICES, tag)

    # The provider fails: the latest run's status moves.
    provider.route(SYNCPAY_PATH, {"error": "down"}, status=500)
    assert synced(service) != "succeeded"
    assert_stale(viewer_api, SERVICES, tag)
