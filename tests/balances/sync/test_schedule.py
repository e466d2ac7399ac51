"""The schedule: due connections get one run each, spread with jitter; paused, closed and
busy ones are skipped; abandoned runs are closed."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from balances.models import SyncRun
from balances.sync.request import sync_request
from balances.sync.schedule import abandoned_after, sync_reap_abandoned, sync_schedule_due
from services.models import ProviderConnection, Service
from tests.factories import ServiceFactory


@pytest.fixture
def connections(db, provider, connect):
    result = []
    for i in range(4):
        service = ServiceFactory(name=f"Due {i}")
        result.append(connect(service, provider.url))
    return result


def _queued_with(django_capture_on_commit_callbacks, **kwargs):
    with (
        mock.patch("balances.tasks.sync_service.apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        count = sync_schedule_due(**kwargs)
    return count, apply_async


def test_due_connections_get_one_run_each_with_jittered_start(
    connections, django_capture_on_commit_callbacks, settings
):
    settings.SYNC_SCHEDULER_TICK_SECONDS = 60
    count, apply_async = _queued_with(django_capture_on_commit_callbacks)
    assert count == 4
    assert SyncRun.objects.filter(trigger="schedule", status="queued").count() == 4
    countdowns = [c.kwargs["countdown"] for c in apply_async.call_args_list]
    assert all(0 <= c <= 60 for c in countdowns) and len(set(countdowns)) > 1


def test_next_run_is_the_interval_plus_or_minus_ten_percent(
    connections, django_capture_on_commit_callbacks, settings
):
    settings.SYNC_INTERVAL_MINUTES = 15
    before = timezone.now()
    _queued_with(django_capture_on_commit_callbacks)
    for connection in ProviderConnection.objects.all():
        delta = (connection.next_sync_at - before).total_seconds()
        assert 15 * 60 * 0.9 - 1 <= delta <= 15 * 60 * 1.1 + 1


def test_not_due_paused_closed_and_busy_services_are_skipped(
    connections, django_capture_on_commit_callbacks
):
    not_due, paused, closed, busy = connections
    ProviderConnection.objects.filter(pk=not_due.pk).update(
        next_sync_at=timezone.now() + timedelta(minutes=5)
    )
    ProviderConnection.objects.filter(pk=paused.pk).update(
        paused_at=timezone.now(), paused_reason="x"
    )
    Service.objects.filter(pk=closed.service_id).update(status="closed")
    sync_request(service=busy.service, trigger="button")  # still queued: a slow provider
    count, _ = _queued_with(django_capture_on_commit_callbacks)
    assert count == 0
    assert SyncRun.objects.filter(trigger="schedule").count() == 0


def test_two_schedulers_never_queue_a_connection_twice(
    connections, django_capture_on_commit_callbacks
):
    first, _ = _queued_with(django_capture_on_commit_callbacks)
    second, _ = _queued_with(django_capture_on_commit_callbacks)
    assert (first, second) == (4, 0)
    assert SyncRun.objects.count() == 4


def test_abandoned_runs_are_closed_so_the_service_can_sync_again(connections):
    service = connections[0].service
    run = sync_request(service=service, trigger="schedule")
    long_ago = timezone.now() - abandoned_after() - timedelta(minutes=1)
    SyncRun.objects.filter(pk=run.pk).update(
        status="running", started_at=long_ago, created_at=long_ago
    )
    fresh = sync_request(service=connections[1].service, trigger="schedule")
    assert sync_reap_abandoned() == 1
    run.refresh_from_db()
    fresh.refresh_from_db()
    assert (run.status, run.error_category) == ("failed", "abandoned")
    assert fresh.status == "queued"
    sync_request(service=service, trigger="button")  # allowed again
