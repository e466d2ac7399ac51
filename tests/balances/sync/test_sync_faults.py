"""Faults never leave a sync stuck: an unexpected exception in any step, or a provider slower
than the sync's deadline, ends the run as failed with its own category, releases the
service's lock, and the next sync starts at once.  (Real workers: test_worker.py.)"""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from celery import current_app
from django.db import OperationalError

from balances import locks
from balances.actions import balance_create
from balances.models import Balance, BalanceChange, SyncRun
from balances.sync import execute
from balances.sync.request import SYNC_TASK, sync_request
from core.actors import Actor
from core.redis import RedisError
from services.models import ProviderConnection
from tests.factories import ServiceFactory
from tests.provider_server import SYNCPAY_PATH, Reply, syncpay_body

D = Decimal
SECRET = "postgres://app:hunter2-secret@db/backoffice"
# A number no decimal context holds: the provider bug that used to leave runs "running".
HUGE_NUMBER_BODY = (
    '{"success": true, "account_id": "org_test", "balances": [{"currency": "USD", '
    '"available_balance": 1e999999999999999999999, "pending_balance": "0.00"}]}'
)


@pytest.fixture
def service(db, operator):
    service = ServiceFactory(name="Lagos Retail")
    balance_create(
        service=service, currency="USD", amount=D("1000.00"), actor=Actor.for_user(operator)
    )
    return service


@pytest.fixture
def connected(service, provider, connect):
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("USD", "1250.50", "0.00"))))
    connect(service, provider.url)
    return service


def assert_lock_free(service) -> None:
    name = locks.service_lock_name(service.pk)
    token = locks.acquire(name, 5)
    assert token is not None, "the service's lock was left held"
    locks.release(name, token)


def assert_failed_cleanly(run: SyncRun, category: str) -> None:
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED, (run.status, run.error_message)
    assert run.error_category == category
    assert run.finished_at is not None
    assert_lock_free(run.service)


def assert_next_sync_starts_at_once(service, run_now, monkeypatch) -> None:
    monkeypatch.undo()
    run = run_now(service)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert Balance.objects.get(service=service, currency="USD").available == D("1250.50")


def test_a_number_no_decimal_holds_is_refused_as_bad_json(service, provider, connect, run_now):
    provider.reply(SYNCPAY_PATH, Reply(HUGE_NUMBER_BODY))
    connect(service, provider.url)

    run = run_now(service)

    assert_failed_cleanly(run, "bad_response")
    assert "not valid JSON" in run.error_message
    assert Balance.objects.get(service=service, currency="USD").available == D("1000.00")


# --- an unexpected exception in each step, in-process ------------------------------------


def test_an_exception_before_the_fetch_fails_the_run_as_internal(
    connected, run_now, monkeypatch, caplog
):
    def broken(connection):
        raise KeyError(SECRET)

    monkeypatch.setattr(execute, "connection_config", broken)

    run = run_now(connected)

    assert_failed_cleanly(run, "internal")
    assert run.error_category_label == "Internal error"
    assert "KeyError" in run.error_message and "before the provider was asked" in run.error_message
    assert "hunter2" not in run.error_message
    assert "KeyError" in caplog.text  # logged with its traceback for the developers
    assert_next_sync_starts_at_once(connected, run_now, monkeypatch)


def test_a_bad_provider_number_in_the_fetch_fails_the_run_as_internal(
    service, provider, connect, run_now, monkeypatch
):
    # The decoder of old (parse_float=Decimal): the number raises InvalidOperation, which is
    # neither a ProviderError nor a ValueError.
    from balances.providers import http

    monkeypatch.setattr(http, "decode_json", lambda body: json.loads(body, parse_float=Decimal))
    provider.reply(
        SYNCPAY_PATH, Reply(HUGE_NUMBER_BODY), Reply(syncpay_body(("USD", "1250.50", "0.00")))
    )
    connect(service, provider.url)

    run = run_now(service)

    assert_failed_cleanly(run, "internal")
    assert "InvalidOperation" in run.error_message
    assert "reading the provider's answer" in run.error_message
    assert Balance.objects.get(service=service, currency="USD").available == D("1000.00")
    assert_next_sync_starts_at_once(service, run_now, monkeypatch)


def test_an_exception_while_planning_fails_the_run_as_internal(connected, run_now, monkeypatch):
    from balances.sync import apply

    def broken(**kwargs):
        raise ZeroDivisionError(SECRET)

    monkeypatch.setattr(apply, "plan_snapshot", broken)

    run = run_now(connected)

    assert_failed_cleanly(run, "internal")
    assert "ZeroDivisionError" in run.error_message and "hunter2" not in run.error_message
    assert_next_sync_starts_at_once(connected, run_now, monkeypatch)


def test_a_database_error_while_applying_fails_the_run_and_writes_nothing(
    connected, run_now, monkeypatch
):
    from balances.sync import apply

    history = BalanceChange.objects.count()

    def broken(*args, **kwargs):
        raise OperationalError(f"server closed the connection unexpectedly ({SECRET})")

    monkeypatch.setattr(apply, "_finish_run", broken)  # after the balances were written

    run = run_now(connected)

    assert_failed_cleanly(run, "internal")
    assert "OperationalError" in run.error_message
    assert "applying the provider's figures" in run.error_message
    assert "hunter2" not in run.error_message
    # The apply is one transaction: the balances written before the error are rolled back.
    assert Balance.objects.get(service=connected, currency="USD").available == D("1000.00")
    assert BalanceChange.objects.count() == history
    assert_next_sync_starts_at_once(connected, run_now, monkeypatch)


def test_redis_failing_at_the_lock_fails_the_run(connected, run_now, monkeypatch):
    def broken(name, ttl):
        raise RedisError("Connection refused")

    monkeypatch.setattr(locks, "acquire", broken)

    run = run_now(connected)

    run.refresh_from_db()
    assert (run.status, run.error_category) == ("failed", "internal")
    assert "Redis" in run.error_message and "RedisError" in run.error_message
    assert_next_sync_starts_at_once(connected, run_now, monkeypatch)


def test_an_exception_after_the_run_is_created_fails_it(
    connected, run_now, monkeypatch, django_capture_on_commit_callbacks
):
    task = current_app.tasks[SYNC_TASK]

    def broken(*args, **kwargs):
        raise TypeError(SECRET)

    monkeypatch.setattr(task, "apply_async", broken)

    with pytest.raises(TypeError), django_capture_on_commit_callbacks(execute=True):
        sync_request(service=connected, trigger="api")

    run = SyncRun.objects.get(service=connected)
    assert (run.status, run.error_category) == ("failed", "internal")
    assert "TypeError" in run.error_message and "queued" in run.error_message
    assert "hunter2" not in run.error_message
    assert_next_sync_starts_at_once(connected, run_now, monkeypatch)


def test_the_failures_count_towards_pausing_the_schedule(connected, run_now, monkeypatch):
    monkeypatch.setattr(execute, "connection_config", lambda c: 1 / 0)
    run_now(connected)
    connection = ProviderConnection.objects.get(service=connected)
    assert connection.consecutive_failures == 1


def test_the_api_and_the_page_show_the_internal_error(
    clients, connected, run_now, monkeypatch, operator
):
    monkeypatch.setattr(execute, "connection_config", lambda c: 1 / 0)
    run = run_now(connected)

    page = clients["operator"].get(f"/services/{connected.public_id}/balances/").content.decode()
    assert "Update failed: Internal error" in page
    detail = clients["operator"].get(f"/services/{connected.public_id}/sync-runs/{run.public_id}/")
    assert "Internal error" in detail.content.decode()


# --- Test connection ----------------------------------------------------------------------


def _test_connection(clients, service, provider):
    return clients["admin"].post(
        f"/services/{service.public_id}/provider/test/",
        {"kind": "syncpay", "base_url": provider.url, "syncpay_api_key": ""},
    )


def test_test_connection_shows_an_unexpected_error_in_planning(
    clients, connected, provider, monkeypatch
):
    from balances.connections import views

    def broken(**kwargs):
        raise ArithmeticError(SECRET)

    monkeypatch.setattr(views, "plan_snapshot", broken)

    response = _test_connection(clients, connected, provider)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Test connection failed — Internal error" in page
    assert "ArithmeticError" in page and "hunter2" not in page
    assert not SyncRun.objects.exists()


def test_test_connection_shows_a_bad_provider_number(clients, connected, provider, monkeypatch):
    from balances.providers import http

    monkeypatch.setattr(http, "decode_json", lambda body: json.loads(body, parse_float=Decimal))
    provider.route(SYNCPAY_PATH, HUGE_NUMBER_BODY)

    response = _test_connection(clients, connected, provider)

    assert response.status_code == 200
    assert "Test connection failed — Internal error" in response.content.decode()
    assert "InvalidOperation" in response.content.decode()


# --- the sync's own deadline ----------------------------------------------------------------


def test_a_slow_provider_fails_the_run_as_timeout_within_the_deadline(
    service, provider, connect, run_now, settings
):
    # Longer than the deadline, shorter than the HTTP timeout: only the deadline can stop it.
    settings.SYNC_TASK_TIME_LIMIT = 1
    settings.PROVIDER_HTTP_TIMEOUT = 10
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("USD", "1250.50", "0.00")), delay=4))
    connect(service, provider.url)

    started = time.monotonic()
    run = run_now(service)
    elapsed = time.monotonic() - started

    assert_failed_cleanly(run, "timeout")
    assert elapsed < 2, elapsed
    assert "time limit of 1 s" in run.error_message
    assert run.attempts == 1  # the deadline is not retried within the same task
    assert provider.hits(SYNCPAY_PATH) == 1
    assert Balance.objects.get(service=service, currency="USD").available == D("1000.00")


def test_no_provider_request_starts_once_the_deadline_has_passed(
    connected, provider, run_now, settings, monkeypatch
):
    settings.SYNC_TASK_TIME_LIMIT = 0
    run = run_now(connected)
    assert_failed_cleanly(run, "timeout")
    assert provider.hits(SYNCPAY_PATH) == 0


def test_the_deadline_stays_below_the_lock_ttl(settings):
    settings.SYNC_TASK_TIME_LIMIT, settings.SYNC_LOCK_TTL_SECONDS = 300, 330
    assert execute.sync_deadline_seconds() == 300
    settings.SYNC_TASK_TIME_LIMIT, settings.SYNC_LOCK_TTL_SECONDS = 300, 30
    assert execute.sync_deadline_seconds() == 27
    settings.SYNC_TASK_TIME_LIMIT, settings.SYNC_LOCK_TTL_SECONDS = 300, 3
    assert 2 < execute.sync_deadline_seconds() < 3


def test_celery_limits_only_back_the_deadline_up():
    from django.conf import settings

    deadline = execute.sync_deadline_seconds()
    assert deadline < settings.SYNC_LOCK_TTL_SECONDS
    assert deadline < settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert settings.CELERY_TASK_TIME_LIMIT > settings.CELERY_TASK_SOFT_TIME_LIMIT
