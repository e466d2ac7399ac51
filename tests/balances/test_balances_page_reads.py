"""The balances page's reads: the service comes with its latest sync run in one statement,
the very run a query of its own would read, on both databases we run on; the page renders
with Redis down."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from balances.models import SyncRun
from balances.queries import last_sync_run, service_with_last_run
from core.errors import NotFound
from tests.balances.sync.test_sync_queue_down import RedisSwitch
from tests.core.test_money_storage import ALIASES, default_connection
from tests.factories import BalanceFactory, ServiceFactory, UserFactory

BOTH = pytest.mark.django_db(databases=ALIASES)


@pytest.fixture(params=ALIASES)
def on_database(request):
    with default_connection(request.param):
        yield request.param


def _runs(service) -> SyncRun:
    """An older run and the latest one, with every kind of column filled."""
    now = timezone.now().replace(microsecond=123456)
    SyncRun.objects.create(
        service=service,
        provider_kind="syncpay",
        trigger=SyncRun.Trigger.SCHEDULE,
        status=SyncRun.Status.SUCCEEDED,
        created_at=now - timedelta(hours=2),
    )
    return SyncRun.objects.create(
        service=service,
        provider_kind="wise",
        trigger=SyncRun.Trigger.BUTTON,
        status=SyncRun.Status.FAILED,
        requested_by=UserFactory(username="asker"),
        created_at=now,
        started_at=now + timedelta(seconds=1),
        finished_at=now + timedelta(seconds=3),
        attempts=3,
        updated_count=2,
        unchanged_count=1,
        held_count=1,
        result={
            "heldForReview": [{"currency": "EUR", "provider": "1.50", "kept": False}],
            "notReported": ["KWD"],
        },
        error_category="timeout",
        error_message='The provider said "no" — ünïcode, 10 s',
    )


@BOTH
def test_the_latest_run_comes_with_the_service_as_read_on_its_own(
    on_database, django_assert_num_queries
):
    service = ServiceFactory()
    latest = _runs(service)
    expected = SyncRun.objects.get(pk=latest.pk)

    service_with_last_run(service.public_id)  # SQLite: Django probes its JSON support once
    with django_assert_num_queries(1):
        loaded = service_with_last_run(service.public_id)
        run = last_sync_run(loaded)

    assert run is not None and run.pk == latest.pk
    for field in SyncRun._meta.concrete_fields:
        assert getattr(run, field.attname) == getattr(expected, field.attname), field.name
    assert run.created_at.tzinfo is not None and run.result["notReported"] == ["KWD"]
    assert run.service is loaded  # the run summary's link: no query
    assert not run._state.adding


@BOTH
def test_a_service_without_runs_has_none(on_database):
    service = ServiceFactory()
    assert last_sync_run(service_with_last_run(service.public_id)) is None


def test_an_unknown_service_is_not_found(db):
    with pytest.raises(NotFound):
        service_with_last_run("srv_missing")


def test_the_balances_page_renders_with_redis_down(settings, viewer_client):
    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR")
    _runs(service)
    redis = RedisSwitch(settings)
    redis.down()
    try:
        page = viewer_client.get(f"/services/{service.public_id}/balances/")
        charts = viewer_client.get(
            f"/services/{service.public_id}/balances/charts/", HTTP_HX_REQUEST="true"
        )
    finally:
        redis.up()
    assert page.status_code == 200
    assert 'id="balance-EUR"' in page.content.decode()
    assert "Update failed: " in page.content.decode()
    assert charts.status_code == 200 and "Balances over time" in charts.content.decode()
