"""The sync kinds: a sync's figures are evaluated once per run (SyncFinished, same
transaction); failing runs and a paused schedule open sync_failing; staleness is checked by the
periodic task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from alerts import actions, evaluate, tasks
from alerts.models import Alert
from balances.models import Balance, SyncRun
from balances.providers.base import CurrencyFigures, Snapshot
from balances.sync.apply import snapshot_apply
from balances.sync.schedule import run_fail
from services.models import ProviderConnection
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def connected(db):
    """A service with a provider connection and EUR / USD balances confirmed just now."""
    service = ServiceFactory(name="Connected Ltd")
    now = timezone.now()
    for currency in ("EUR", "USD"):
        BalanceFactory(
            service=service, currency=currency, available=D("500.00"), last_synced_at=now
        )
    connection = ProviderConnection.objects.create(service=service, kind="syncpay")
    return service, connection


def new_run(service) -> SyncRun:
    return SyncRun.objects.create(
        service=service, provider_kind="syncpay", trigger="schedule", status="running"
    )


def apply(service, connection, **amounts: str) -> None:
    figures = tuple(
        CurrencyFigures(code, D(amount), D(0), D(0), {}) for code, amount in sorted(amounts.items())
    )
    snapshot = Snapshot(
        kind="syncpay",
        taken_at=datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
        figures=figures,
        omitted_means_zero=False,
        extras={},
    )
    snapshot_apply(run=new_run(service), connection=connection, snapshot=snapshot)


def test_a_sync_that_takes_a_balance_below_opens_one_alert_per_balance(connected, make_rule):
    service, connection = connected
    make_rule(currency="EUR", threshold="100.00")
    make_rule(currency="USD", threshold="100.00")
    apply(service, connection, EUR="50.00", USD="20.00")
    assert sorted(Alert.objects.values_list("currency", "opened_value")) == [
        ("EUR", "50.00"),
        ("USD", "20.00"),
    ]
    apply(service, connection, EUR="40.00", USD="200.00")  # EUR stays below, USD recovers
    assert sorted(Alert.objects.values_list("currency", "status")) == [
        ("EUR", "open"),
        ("USD", "resolved"),
    ]


def test_failed_runs_in_a_row_open_sync_failing_and_a_success_resolves_it(
    connected, make_rule, settings
):
    settings.SYNC_PAUSE_AFTER_FAILURES = 10
    service, connection = connected
    make_rule(currency="EUR", kind="sync_failing", failures=2)
    run_fail(run=new_run(service), category="timeout", message="slow")
    assert not Alert.objects.exists()
    run_fail(run=new_run(service), category="timeout", message="slow")
    [alert] = Alert.objects.all()
    assert (alert.kind, alert.currency, alert.opened_value, alert.threshold) == (
        "sync_failing",
        "EUR",
        "2",
        "2",
    )
    run_fail(run=new_run(service), category="timeout", message="slow")
    assert Alert.objects.count() == 1  # still failing: no second alert

    apply(service, connection, EUR="500.00", USD="500.00")
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_value) == ("resolved", "0")


def test_a_paused_schedule_counts_as_failing_whatever_the_count(connected, make_rule, settings):
    settings.SYNC_PAUSE_AFTER_FAILURES = 1
    service, _connection = connected
    make_rule(currency="USD", kind="sync_failing", failures=5)
    run_fail(run=new_run(service), category="auth", message="bad key")
    assert ProviderConnection.objects.get(service=service).paused_at is not None
    [alert] = Alert.objects.all()
    assert alert.opened_value == "1"


def test_staleness_opens_through_the_periodic_task_and_a_sync_resolves_it(connected, make_rule):
    service, connection = connected
    make_rule(currency="EUR", kind="stale", stale_minutes=30)
    assert tasks.check_alerts.delay().get() == [0, 0, 0]  # confirmed just now

    Balance.objects.filter(service=service).update(
        last_synced_at=timezone.now() - timedelta(minutes=45)
    )
    assert tasks.check_alerts.delay().get() == [1, 0, 0]
    [alert] = Alert.objects.all()
    assert (alert.kind, alert.currency, alert.status) == ("stale", "EUR", "open")
    assert 45 <= int(alert.opened_value) <= 46 and alert.threshold == "30"
    assert tasks.check_alerts.delay().get() == [0, 0, 0]  # still stale: stays open, once

    apply(service, connection, EUR="500.00", USD="500.00")  # confirmed again
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_value) == ("resolved", "0")


def test_the_periodic_task_resolves_when_the_staleness_ended_without_an_event(connected, make_rule):
    service, _connection = connected
    make_rule(currency="EUR", kind="stale", stale_minutes=30)
    Balance.objects.filter(service=service).update(
        last_synced_at=timezone.now() - timedelta(hours=2)
    )
    assert actions.alerts_check() == (1, 0)
    Balance.objects.filter(service=service).update(last_synced_at=timezone.now())
    assert actions.alerts_check() == (0, 1)
    assert Alert.objects.get().status == "resolved"


def test_a_service_without_a_provider_connection_is_never_stale(db, make_rule):
    service = ServiceFactory()
    BalanceFactory(
        service=service,
        currency="EUR",
        available=D("1"),
        last_synced_at=timezone.now() - timedelta(days=3),
    )
    make_rule(currency="EUR", kind="stale", stale_minutes=1)
    assert actions.alerts_check() == (0, 0)
    assert not Alert.objects.exists()


def test_the_periodic_check_looks_again_under_the_row_lock(connected, make_rule, monkeypatch):
    """What the first, unlocked look finds is only a candidate: a sync that confirmed the
    balance in between wins."""
    service, _connection = connected
    make_rule(currency="EUR", kind="stale", stale_minutes=30)
    Balance.objects.filter(service=service).update(
        last_synced_at=timezone.now() - timedelta(hours=1)
    )
    first_look = evaluate.scope_changes

    def then_a_sync_confirms(**kwargs):
        changes = first_look(**kwargs)
        if not kwargs.get("lock"):
            Balance.objects.filter(service=service).update(last_synced_at=timezone.now())
        return changes

    monkeypatch.setattr(evaluate, "scope_changes", then_a_sync_confirms)
    assert actions.alerts_check() == (0, 0)
    assert not Alert.objects.exists()


def test_the_check_is_in_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["check-alerts"]
    assert entry["task"] == "alerts.tasks.check_alerts"
    assert entry["schedule"] == float(settings.ALERTS_CHECK_SECONDS)


def test_a_failed_run_evaluates_only_the_sync_kinds(connected, make_rule, operator_actor):
    """A failed run locks no balance row and changes no figure: it must not judge amounts it
    may read older than an alert a concurrent edit has just committed."""
    from balances import actions as balance_actions

    service, _connection = connected
    make_rule(currency="EUR", threshold="100.00")
    balance_actions.balance_update(
        service=service,
        currency="EUR",
        amount="10.00",
        expected_version=None,
        actor=operator_actor,
        reason="t",
    )
    # As an amount read before that edit committed would look:
    Balance.objects.filter(service=service, currency="EUR").update(available=D("500.00"))
    run_fail(run=new_run(service), category="timeout", message="slow")
    assert Alert.objects.get().status == "open"
