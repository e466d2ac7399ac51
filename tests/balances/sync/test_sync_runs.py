"""Sync runs end to end through the task, against a real local server speaking SyncPay's
documented format: statuses, counts, error categories, retries, pausing."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from balances.actions import balance_create
from balances.connections.actions import connection_resume
from balances.models import Balance, SyncRun
from balances.sync.execute import retry_delay
from balances.sync.request import SyncAlreadyRunning, sync_request
from balances.sync.schedule import sync_schedule_due
from core.actors import Actor
from core.errors import NotAllowed
from tests.balances.sync.conftest import SYNCPAY_KEY
from tests.factories import ServiceFactory
from tests.provider_server import SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED, Reply, syncpay_body

D = Decimal


@pytest.fixture
def service(db, operator):
    service = ServiceFactory(name="Lagos Retail")
    for currency, amount in (("USD", "1000.00"), ("NGN", "5.00")):
        balance_create(
            service=service, currency=currency, amount=D(amount), actor=Actor.for_user(operator)
        )
    return service


def test_successful_run_records_counts_timings_and_connection_state(
    service, provider, connect, run_now, operator
):
    provider.reply(
        SYNCPAY_PATH, Reply(syncpay_body(("USD", "1250.50", "125.00"), ("NGN", "5.00", "0.00")))
    )
    connection = connect(service, provider.url)
    run = run_now(service, user=operator)
    assert run.status == "succeeded"
    assert run.trigger == "button" and run.requested_by == operator
    assert (run.updated_count, run.unchanged_count, run.attempts) == (1, 1, 1)
    assert run.started_at <= run.finished_at
    usd = Balance.objects.get(service=service, currency="USD")
    assert (usd.available, usd.pending) == (D("1250.50"), D("125.00"))
    connection.refresh_from_db()
    assert connection.last_success_at is not None and connection.consecutive_failures == 0
    assert provider.requests[0].headers["Authorization"] == f"Bearer {SYNCPAY_KEY}"


def test_unauthorized_fails_at_once_with_the_providers_message(service, provider, connect, run_now):
    provider.reply(SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED)
    connect(service, provider.url)
    run = run_now(service)
    assert run.status == "failed"
    assert run.error_category == "auth"
    assert "Invalid API key" in run.error_message
    assert SYNCPAY_KEY not in run.error_message
    assert provider.hits(SYNCPAY_PATH) == 1  # no retry for 401


def test_not_found_is_not_retried(service, provider, connect, run_now):
    provider.reply(
        SYNCPAY_PATH,
        Reply({"error": {"code": "NOT_FOUND", "message": "Organization not found"}}, status=404),
    )
    connect(service, provider.url)
    run = run_now(service)
    assert (run.status, run.error_category) == ("failed", "not_found")
    assert "Organization not found" in run.error_message
    assert provider.hits(SYNCPAY_PATH) == 1


def test_server_error_is_retried_then_succeeds(service, provider, connect, run_now):
    provider.reply(
        SYNCPAY_PATH,
        Reply({"error": "boom"}, status=502),
        Reply({"error": "boom"}, status=503),
        Reply(syncpay_body(("USD", "1.00", "0.00"), ("NGN", "5.00", "0.00"))),
    )
    connect(service, provider.url)
    run = run_now(service)
    assert run.status == "succeeded"
    assert run.attempts == 3
    assert provider.hits(SYNCPAY_PATH) == 3


def test_timeouts_are_retried_up_to_the_limit_then_fail(
    service, provider, connect, run_now, settings
):
    settings.PROVIDER_HTTP_TIMEOUT = 0.2
    settings.SYNC_MAX_ATTEMPTS = 3
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(), delay=1.0))
    connect(service, provider.url)
    run = run_now(service)
    assert (run.status, run.error_category) == ("failed", "timeout")
    assert run.attempts == 3


def test_malformed_response_fails_as_bad_response_and_changes_nothing(
    service, provider, connect, run_now
):
    provider.reply(SYNCPAY_PATH, Reply('{"success": true, "balances": [{"currency": "USD"'))
    connect(service, provider.url)
    run = run_now(service)
    assert (run.status, run.error_category) == ("failed", "bad_response")
    assert Balance.objects.get(service=service, currency="USD").available == D("1000.00")


def test_retry_delay_backs_off_with_jitter_and_honours_retry_after(settings):
    settings.SYNC_RETRY_BASE_SECONDS = 5
    settings.SYNC_RETRY_MAX_SECONDS = 300
    first = [retry_delay(1, None) for _ in range(50)]
    fourth = [retry_delay(4, None) for _ in range(50)]
    assert all(5 <= d <= 5 for d in first)
    assert all(5 <= d <= 40 for d in fourth) and len(set(fourth)) > 1
    assert all(d >= 30 for d in (retry_delay(1, 30.0) for _ in range(50)))


def test_rate_limited_response_is_retried_after_retry_after(service, provider, connect, run_now):
    provider.reply(
        SYNCPAY_PATH,
        Reply(
            {"error": {"code": "RATE_LIMITED", "message": "Slow down"}},
            status=429,
            headers={"Retry-After": "0"},
        ),
        Reply(syncpay_body(("USD", "1.00", "0.00"), ("NGN", "5.00", "0.00"))),
    )
    connect(service, provider.url)
    run = run_now(service)
    assert run.status == "succeeded" and run.attempts == 2


def test_a_second_request_points_to_the_active_run(service, provider, connect):
    connect(service, provider.url)
    first = sync_request(service=service, trigger="api")  # queued; its task runs after commit
    with pytest.raises(SyncAlreadyRunning) as exc:
        sync_request(service=service, trigger="button")
    assert exc.value.run == first
    assert exc.value.details["syncRunId"] == first.public_id


def test_a_service_without_connection_cannot_sync(service):
    with pytest.raises(NotAllowed) as exc:
        sync_request(service=service, trigger="button")
    assert exc.value.code == "no_provider"


def test_repeated_failures_pause_the_connection_until_resumed_or_edited(
    service, provider, connect, run_now, settings, operator
):
    settings.SYNC_PAUSE_AFTER_FAILURES = 3
    provider.reply(SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED)
    connection = connect(service, provider.url)
    for _ in range(3):
        run_now(service, trigger="schedule")
    connection.refresh_from_db()
    assert connection.is_paused
    assert "3 failed runs in a row" in connection.paused_reason
    assert "Invalid API key" in connection.paused_reason
    assert sync_schedule_due() == 0  # paused connections are not scheduled

    connection_resume(service=service, actor=Actor.for_user(operator))
    connection.refresh_from_db()
    assert not connection.is_paused and connection.consecutive_failures == 0

    for _ in range(3):
        run_now(service, trigger="schedule")
    connection.refresh_from_db()
    assert connection.is_paused
    connect(service, provider.url, credentials={"apiKey": "sk_live_newkey456"})  # an edit resumes
    connection.refresh_from_db()
    assert not connection.is_paused


def test_a_success_resets_the_failure_count(service, provider, connect, run_now):
    provider.reply(SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED, Reply(syncpay_body(("USD", "1.00", "0.00"))))
    connection = connect(service, provider.url)
    run_now(service)
    connection.refresh_from_db()
    assert connection.consecutive_failures == 1
    run_now(service)
    connection.refresh_from_db()
    assert connection.consecutive_failures == 0


def test_credentials_never_reach_logs_or_results(service, provider, connect, run_now, caplog):
    caplog.set_level(logging.DEBUG)
    provider.reply(SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED, Reply(syncpay_body(("USD", "1.00", "0.00"))))
    connect(service, provider.url)
    failed = run_now(service)
    ok = run_now(service)
    assert SYNCPAY_KEY not in caplog.text
    for run in (failed, ok):
        assert SYNCPAY_KEY not in run.error_message
        assert SYNCPAY_KEY not in str(run.result)
    assert SyncRun.objects.count() == 2


def test_retry_delay_stays_well_inside_the_visibility_timeout(settings):
    settings.SYNC_RETRY_BASE_SECONDS = 5
    settings.SYNC_RETRY_MAX_SECONDS = 3000
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1200}
    assert max(retry_delay(20, None) for _ in range(50)) <= 600
    assert retry_delay(1, 5000.0) <= 600
