"""Balance sync on real Celery workers and real Redis.

Every test starts ``celery -A config worker`` processes (see worker_harness.py) against the
pytest test database and a private Redis server, queues work the way the application does
(``sync_request`` → ``transaction.on_commit`` → the broker) and watches the database until the
runs end.  The provider is a real local HTTP server speaking the provider's documented format.

Timings are shortened through the environment of the workers only (visibility timeout, lock
TTL, retry backoff), so that the failure modes — a retry through the broker, a worker killed
mid-run, a shared rate limit — happen within seconds.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from balances.actions import balance_create
from balances.models import Balance, BalanceChange, SyncRun
from balances.sync.request import sync_request
from core.actors import Actor
from services.models import ProviderConnection
from tests.balances.sync.worker_checks import (
    ENDED,
    PAYOP_PATH,
    history_per_balance,
    most_requests_in_a_window,
    payop_body,
    run_ended,
    syncpay_service,
    wait_until,
)
from tests.balances.sync.worker_harness import (
    CeleryWorker,
    flush_redis,
    private_redis,
    publishing_to,
    unacked_since,
    worker_env,
)
from tests.factories import ServiceFactory
from tests.provider_server import SYNCPAY_PATH, ProviderServer, Reply, syncpay_body

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

D = Decimal

# Short but safe timings for the workers.  The visibility timeout stays above the longest task
# of each test (a redelivery while the first delivery still runs would only be refused by the
# lock, but it would blur what a test shows).
FAST = {
    "SYNC_RETRY_BASE_SECONDS": "0.2",
    "SYNC_RETRY_MAX_SECONDS": "1",
    "PROVIDER_HTTP_TIMEOUT": "10",
    "CELERY_VISIBILITY_TIMEOUT": "30",
    "SYNC_LOCK_TTL_SECONDS": "30",
}


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def worker_redis() -> Iterator[str]:
    """The workers' Redis: a private server (see worker_harness for why not database 15)."""
    with private_redis() as url:
        yield url


@pytest.fixture
def celery_app(settings, worker_redis) -> Iterator[Any]:
    """The application's Celery app, publishing to the workers' Redis instead of running
    tasks inline."""
    from config.celery import app

    flush_redis(worker_redis)
    # publishing_to() first: it saves the app's configuration as it is (eager, the test
    # Redis) and restores exactly that afterwards, whatever the settings fixture does.
    with publishing_to(app, worker_redis):
        settings.TASKS_IN_PROCESS = False
        settings.CELERY_TASK_ALWAYS_EAGER = False
        settings.REDIS_URL = settings.CELERY_BROKER_URL = worker_redis
        yield app


@pytest.fixture
def start_worker(
    transactional_db, celery_app, worker_redis
) -> Iterator[Callable[..., CeleryWorker]]:
    """``start_worker(concurrency=2, settings_module=…, **env)`` → a ready worker.

    Depends on ``transactional_db`` so that the workers are gone before the tables are
    flushed at the end of the test, and on ``celery_app``, so that a worker starts after the
    Redis flush and declares its queue bindings in the clean database.
    """
    started: list[CeleryWorker] = []

    def start(
        *,
        concurrency: int = 2,
        pool: str = "threads",
        name: str = "w",
        settings_module: str = "config.test_settings",
        **env: str,
    ) -> CeleryWorker:
        overrides = {**FAST, **env, "DJANGO_SETTINGS_MODULE": settings_module}
        worker = CeleryWorker(
            celery_app,
            worker_env(db_connection.settings_dict, worker_redis, overrides),
            pool=pool,
            concurrency=concurrency,
            name=name,
        )
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()
        # Shown by pytest only when the test failed: what the workers did.
        print(f"--- {worker.hostname} ---\n{worker.log_tail(80)}")
        worker.log_path.unlink(missing_ok=True)


# --- a. a requested run, executed by a worker -----------------------------------------------


def test_requested_run_is_executed_by_a_worker(start_worker, provider, connect, operator):
    provider.reply(
        SYNCPAY_PATH, Reply(syncpay_body(("USD", "1250.50", "125.00"), ("NGN", "5.00", "0.00")))
    )
    service = syncpay_service(
        operator, connect, provider.url, "Lagos Retail", USD="1000.00", NGN="5.00"
    )
    worker = start_worker()

    run = sync_request(service=service, trigger=SyncRun.Trigger.API, user=operator)
    assert run.status == SyncRun.Status.QUEUED  # nothing ran in this process

    run = wait_until(run_ended(run.public_id), timeout=15, what="the run to end", workers=[worker])
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert (run.attempts, run.updated_count, run.unchanged_count) == (1, 1, 1)
    usd = Balance.objects.get(service=service, currency="USD")
    assert (usd.available, usd.pending, usd.updated_by_label) == (
        D("1250.50"),
        D("125.00"),
        "sync:syncpay",
    )
    assert history_per_balance(run) == {"USD": 1}
    assert provider.hits(SYNCPAY_PATH) == 1
    assert "sync_service[" in worker.log_text()  # executed by the worker, not in this process


# --- b. a retry goes back through the broker -----------------------------------------------


def test_unavailable_provider_is_retried_through_celery(start_worker, provider, connect, operator):
    provider.reply(
        SYNCPAY_PATH,
        Reply({"error": {"code": "UNAVAILABLE", "message": "maintenance"}}, status=503),
        Reply(syncpay_body(("USD", "7.00", "0.00"))),
    )
    service = syncpay_service(operator, connect, provider.url, "Accra Shop", USD="1.00")
    worker = start_worker()

    run = sync_request(service=service, trigger=SyncRun.Trigger.BUTTON, user=operator)
    run = wait_until(run_ended(run.public_id), timeout=15, what="the run to end", workers=[worker])

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert run.attempts == 2
    assert provider.hits(SYNCPAY_PATH) == 2
    assert Balance.objects.get(service=service, currency="USD").available == D("7.00")
    assert history_per_balance(run) == {"USD": 1}
    # Celery logs a task retry (a new message with a countdown), which an inline wait never
    # produces; the first delivery therefore ended and freed its worker slot.
    log = worker.log_text()
    assert "retry: Retry in" in log, log


# --- c. a worker killed mid-run --------------------------------------------------------------
# The first answer of the provider takes SLOW seconds: the worker is killed while it waits.
# Nothing is written before the answer, so the killed attempt leaves the run "running", the
# message unacknowledged in Redis and the service lock until its TTL.

SLOW = 2.0
KILL_TIMINGS = {"CELERY_VISIBILITY_TIMEOUT": "3", "SYNC_LOCK_TTL_SECONDS": "3"}


@pytest.fixture
def slow_service(provider, connect, operator):
    body = syncpay_body(
        ("USD", "300.00", "10.00"), ("NGN", "50.00", "0.00"), ("GHS", "0.00", "0.00")
    )
    provider.reply(SYNCPAY_PATH, Reply(body, delay=SLOW), Reply(body))
    return syncpay_service(
        operator, connect, provider.url, "Kumasi Market", USD="100.00", NGN="5.00", GHS="0.00"
    )


def wait_running(run: SyncRun, provider: ProviderServer, workers) -> None:
    wait_until(
        lambda: (
            provider.hits(SYNCPAY_PATH) == 1
            and SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.RUNNING
        ),
        timeout=15,
        what="the run to be running and the provider to be asked",
        workers=workers,
    )


def assert_applied_once(service, run: SyncRun, provider: ProviderServer) -> None:
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert run.attempts == 2  # the killed attempt and the redelivered one
    assert provider.hits(SYNCPAY_PATH) == 2
    assert history_per_balance(run) == {"USD": 1, "NGN": 1}  # GHS unchanged: no history
    versions = dict(Balance.objects.filter(service=service).values_list("currency", "version"))
    created = dict(
        BalanceChange.objects.filter(service=service, sync_run=None).values_list(
            "currency", "version"
        )
    )
    # One apply: each changed balance moved exactly one version past its creation.
    assert versions == {"USD": created["USD"] + 1, "NGN": created["NGN"] + 1, "GHS": created["GHS"]}
    usd = Balance.objects.get(service=service, currency="USD")
    assert (usd.available, usd.pending) == (D("300.00"), D("10.00"))
    assert SyncRun.objects.filter(service=service).count() == 1


def test_worker_killed_mid_run_loses_nothing_and_repeats_nothing(
    start_worker, provider, slow_service, operator
):
    # prefork: the group holds the main process and the pool process running the task.
    first = start_worker(name="doomed", pool="prefork", concurrency=1, **KILL_TIMINGS)
    run = sync_request(service=slow_service, trigger=SyncRun.Trigger.BUTTON, user=operator)
    wait_running(run, provider, [first])

    first.kill()
    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.RUNNING  # nothing applied
    # The message is not lost: it waits in Redis, unacknowledged, for the visibility timeout.
    (delivered_at,) = unacked_since(first.redis_url)
    # The supervisor restarts the worker; once the message is older than the visibility
    # timeout, the new worker's start-up sweep puts it back in the queue.
    time.sleep(max(0.0, delivered_at + 3 + 0.2 - time.time()))
    second = start_worker(name="restarted", pool="prefork", concurrency=1, **KILL_TIMINGS)
    run = wait_until(
        run_ended(run.public_id), timeout=20, what="the redelivered run to end", workers=[second]
    )

    assert_applied_once(slow_service, run, provider)
    assert "sync_service[" in second.log_text()
    assert unacked_since(second.redis_url) == []


def test_surviving_worker_takes_over_the_task_of_a_killed_one(
    start_worker, provider, slow_service, operator
):
    # A running worker finds abandoned messages only in kombu's periodic sweep, every 100 s by
    # default: these workers sweep every second (CELERY_UNACKED_RESTORE_SECONDS).
    timings = {
        **KILL_TIMINGS,
        "CELERY_UNACKED_RESTORE_SECONDS": "1",
    }
    workers = [start_worker(name=f"pair{n}", concurrency=1, **timings) for n in range(2)]
    run = sync_request(service=slow_service, trigger=SyncRun.Trigger.BUTTON, user=operator)
    wait_running(run, provider, workers)
    (doomed,) = [w for w in workers if "sync_service[" in w.log_text()]
    (survivor,) = [w for w in workers if w is not doomed]

    doomed.kill()
    killed_at = time.monotonic()
    run = wait_until(
        run_ended(run.public_id), timeout=20, what="the survivor to finish the run", workers=workers
    )

    assert_applied_once(slow_service, run, provider)
    assert "sync_service[" in survivor.log_text()
    # Within the visibility timeout, one sweep and the lock's TTL (3 + 1 + 3 s, plus slack),
    # not kombu's default 100-s sweep.
    assert time.monotonic() - killed_at < 10


def test_pool_process_killed_mid_run_is_requeued_by_its_worker(
    start_worker, provider, slow_service, operator
):
    # Only the pool process dies (OOM killer): the main process sees the worker lost and,
    # with reject_on_worker_lost, puts the message back at once instead of acknowledging it.
    worker = start_worker(name="survivor", pool="prefork", concurrency=1, **KILL_TIMINGS)
    run = sync_request(service=slow_service, trigger=SyncRun.Trigger.BUTTON, user=operator)
    wait_running(run, provider, [worker])

    (child,) = worker.pool_processes()
    os.kill(child, signal.SIGKILL)
    run = wait_until(
        run_ended(run.public_id), timeout=20, what="the requeued run to end", workers=[worker]
    )

    assert_applied_once(slow_service, run, provider)
    assert "WorkerLostError" in worker.log_text()


# --- d. the periodic fan-out -----------------------------------------------------------------


def test_due_services_are_fanned_out_and_synced_on_the_worker(
    start_worker, provider, celery_app, connect, operator
):
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("USD", "42.00", "0.00"))))
    due = [
        syncpay_service(operator, connect, provider.url, f"Due {i}", USD="1.00") for i in range(3)
    ]
    paused = syncpay_service(operator, connect, provider.url, "Paused", USD="1.00")
    ProviderConnection.objects.filter(service=paused).update(
        paused_reason="test", paused_at=timezone.now()
    )
    # The scheduler spreads runs over one tick: one second here.
    worker = start_worker(SYNC_SCHEDULER_TICK_SECONDS="1")

    celery_app.send_task("balances.tasks.sync_due_services")

    def all_done() -> bool:
        runs = SyncRun.objects.filter(service__in=due)
        return runs.count() == 3 and all(r.status in ENDED for r in runs)

    wait_until(all_done, timeout=20, what="the scheduled runs to end", workers=[worker])
    runs = SyncRun.objects.filter(service__in=due)
    assert {(r.trigger, r.status) for r in runs} == {("schedule", "succeeded")}
    assert not SyncRun.objects.filter(service=paused).exists()
    assert set(Balance.objects.filter(service__in=due).values_list("available", flat=True)) == {
        D("42.00")
    }
    assert all(
        c.next_sync_at is not None for c in ProviderConnection.objects.filter(service__in=due)
    )


# --- e. the shared rate limit under several workers ------------------------------------------


def test_payop_rate_limit_holds_across_workers(start_worker, provider, connect, operator):
    limit, window, services = 3, 2.0, 12
    arrivals: list[float] = []
    provider.on_request = lambda path: arrivals.append(time.monotonic())
    provider.reply(PAYOP_PATH, Reply(payop_body("EUR")))
    targets = []
    for i in range(services):
        service = ServiceFactory(name=f"Payop {i:02d}")
        balance_create(
            service=service, currency="EUR", amount=D("0"), actor=Actor.for_user(operator)
        )
        connect(service, provider.url, kind="payop", credentials={"token": f"payop-jwt-{i}"})
        targets.append(service)
    env = {
        "PROVIDER_RATE_LIMITS": f"payop={limit}/{window}",
        # A sync that finds no slot within half a second is postponed through Celery
        # rather than holding a worker thread.
        "PROVIDER_RATE_LIMIT_MAX_WAIT": "0.5",
    }
    # Two worker processes with two threads each: four syncs compete for the Payop slots,
    # and only Redis can make two processes agree on the count.
    workers = [start_worker(name=f"payop{n}", concurrency=2, **env) for n in range(2)]

    started = time.monotonic()
    runs = [sync_request(service=s, trigger=SyncRun.Trigger.COMMAND) for s in targets]

    def all_done() -> bool:
        return (
            SyncRun.objects.filter(pk__in=[r.pk for r in runs], status__in=ENDED).count()
            == services
        )

    wait_until(all_done, timeout=40, what="all Payop runs to end", workers=workers)
    elapsed = time.monotonic() - started

    ended = SyncRun.objects.filter(pk__in=[r.pk for r in runs])
    assert {r.status for r in ended} == {"succeeded"}, [
        (r.public_id, r.error_message) for r in ended
    ]
    # Waiting for our own limiter is not a failed attempt.
    assert {r.attempts for r in ended} == {1}
    assert len(arrivals) == services  # no request was wasted on a 429 or repeated
    first = provider.requests[0]
    assert (first.path, first.raw_query) == (PAYOP_PATH, "includeTotal=1")
    assert first.headers["Authorization"].startswith("Bearer payop-jwt-")
    # Our limiter counts a request when it grants the slot; the server sees it a few
    # milliseconds later, so consecutive windows are compared with a small allowance.
    assert most_requests_in_a_window(arrivals, window - 0.1) <= limit, sorted(arrivals)
    # The limit really bit: twelve requests at three per two seconds need three full windows.
    assert elapsed >= (services / limit - 1) * window
    logs = [w.log_text() for w in workers]
    assert all("sync_service[" in log for log in logs)  # both processes took part
    # Some runs found no slot and were postponed through the broker, not failed.
    assert any("after rate_limited" in log for log in logs)


# --- f. an unexpected exception never leaves a run stuck ------------------------------------
# The fault is injected in the worker process by a settings module of its own
# (fault_settings.py), once: the run fails as "internal", the lock is released, and the next
# sync of the service runs at once on the same worker.

HUGE_NUMBER_BODY = (
    '{"success": true, "account_id": "org_test", "balances": [{"currency": "USD", '
    '"available_balance": 1e999999999999999999999, "pending_balance": "0.00"}]}'
)


@pytest.mark.parametrize(
    ("fault", "first_body", "exception"),
    [
        # A number no decimal context holds, decoded the way it used to be.
        ("fetch", HUGE_NUMBER_BODY, "InvalidOperation"),
        # The database connection dies in the middle of the apply transaction.
        ("apply", syncpay_body(("USD", "300.00", "0.00")), "OperationalError"),
    ],
)
def test_an_unexpected_exception_on_a_worker_fails_the_run_and_frees_the_service(
    start_worker, provider, connect, operator, fault, first_body, exception
):
    from balances import locks

    provider.reply(SYNCPAY_PATH, Reply(first_body), Reply(syncpay_body(("USD", "300.00", "0.00"))))
    service = syncpay_service(operator, connect, provider.url, f"Faulty {fault}", USD="100.00")
    worker = start_worker(
        settings_module="tests.balances.sync.fault_settings", SYNC_TEST_FAULT=fault
    )

    run = sync_request(service=service, trigger=SyncRun.Trigger.BUTTON, user=operator)
    run = wait_until(run_ended(run.public_id), timeout=15, what="the run to end", workers=[worker])

    assert (run.status, run.error_category) == ("failed", "internal"), run.error_message
    assert exception in run.error_message
    assert Balance.objects.get(service=service, currency="USD").available == D("100.00")
    assert not BalanceChange.objects.filter(sync_run=run).exists()
    token = locks.acquire(locks.service_lock_name(service.pk), 5)  # the worker's Redis
    assert token is not None, "the service's lock was left held"
    locks.release(locks.service_lock_name(service.pk), token)

    # Not "sync_already_running": the next sync starts at once and succeeds.
    again = sync_request(service=service, trigger=SyncRun.Trigger.BUTTON, user=operator)
    again = wait_until(
        run_ended(again.public_id), timeout=15, what="the next run to end", workers=[worker]
    )
    assert again.status == SyncRun.Status.SUCCEEDED, again.error_message
    assert Balance.objects.get(service=service, currency="USD").available == D("300.00")
    assert f"sync run={run.public_id} failed" in worker.log_text()  # logged, with a traceback


# --- g. a batch of runs on a real worker, one service retried alone --------------------------


def test_a_batch_syncs_its_services_and_retries_one_alone_through_celery(
    start_worker, provider, connect, operator, allow_listed
):
    from balances.sync.request import sync_request_many

    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("USD", "42.00", "0.00"))))
    healthy = [
        syncpay_service(operator, connect, provider.url, f"Batch {i}", USD="1.00") for i in range(4)
    ]
    with ProviderServer() as flaky:
        allow_listed(flaky.url)
        flaky.reply(
            SYNCPAY_PATH,
            Reply({"error": {"code": "UNAVAILABLE", "message": "maintenance"}}, status=503),
            Reply(syncpay_body(("USD", "7.00", "0.00"))),
        )
        shaky = syncpay_service(operator, connect, flaky.url, "Batch shaky", USD="1.00")
        worker = start_worker(concurrency=1, SYNC_BATCH_SIZE="8", SYNC_BATCH_THREADS="4")

        runs = sync_request_many(services=[*healthy, shaky], trigger=SyncRun.Trigger.COMMAND)
        ended = [
            wait_until(run_ended(r.public_id), timeout=20, what="the runs to end", workers=[worker])
            for r in runs
        ]

    by_service = {r.service_id: r for r in ended}
    assert {r.status for r in ended} == {"succeeded"}, [
        (r.public_id, r.error_message) for r in ended
    ]
    assert {by_service[s.pk].attempts for s in healthy} == {1}
    assert by_service[shaky.pk].attempts == 2  # the retry was its own
    assert flaky.hits(SYNCPAY_PATH) == 2 and provider.hits(SYNCPAY_PATH) == 4
    assert Balance.objects.get(service=shaky, currency="USD").available == D("7.00")
    assert {b.available for b in Balance.objects.filter(service__in=healthy)} == {D("42.00")}
    log = worker.log_text()
    # One batch message for the five runs, then a single-run task for the retry.
    assert log.count("sync_batch[") >= 1 and "sync_service[" in log, log
