"""What one service sync costs the database, and batches of runs (balances/sync/batch.py):
concurrent fetches, each service applied on its own with every guarantee of a single run."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from balances import locks
from balances.models import Balance, BalanceChange, SyncRun
from balances.sync.batch import sync_execute_batch
from balances.sync.execute import sync_execute
from balances.sync.request import sync_request_many
from balances.sync.schedule import sync_schedule_due
from services.models import ProviderConnection
from tests.factories import ServiceFactory
from tests.provider_server import SYNCPAY_PATH, ProviderServer, syncpay_body

D = Decimal
CODES = ["USD", "NGN", "EUR", "GBP", "GHS", "KES", "JPY", "KWD", "CHF", "AUD",
         "CAD", "CZK", "DKK", "HUF", "NOK", "PLN", "SEK", "ZAR", "INR", "MXN"]  # fmt: skip
TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def fleet_service(connect, base_url, codes, *, key="sk_test_synctests123"):
    """A service whose balances were opened by the fleet set-up, not set by hand (no review
    can concern them), connected to SyncPay at ``base_url``."""
    service = ServiceFactory()
    Balance.objects.bulk_create(
        [Balance(service=service, currency=c, updated_by_label="set-up") for c in codes]
    )
    connect(service, base_url, credentials={"apiKey": key})
    return service


def new_run(service):
    return SyncRun.objects.create(service=service, provider_kind="syncpay", trigger="command")


def statements(ctx):
    return [q["sql"] for q in ctx.captured_queries]


# Transactional: the apply's BEGIN and COMMIT are counted as production sends them.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("count", [2, 20])
def test_a_sync_that_changes_nothing_costs_six_statements(provider, connect, count):
    codes = CODES[:count]
    service = fleet_service(connect, provider.url, codes)
    provider.route(SYNCPAY_PATH, syncpay_body(*[(c, "5.00", "0.00") for c in codes]))
    first = new_run(service)
    assert sync_execute(run_public_id=first.public_id, service_id=service.pk).status == "succeeded"
    run = new_run(service)

    with CaptureQueriesContext(connection) as ctx:
        outcome = sync_execute(run_public_id=run.public_id, service_id=service.pk)

    assert outcome.status == "succeeded"
    sql = statements(ctx)
    # 1. UPDATE the run to running, RETURNING it with its service, its connection and its
    #    balances' versions (execute.mark_running, written by hand), before the fetch,
    #    outside a transaction;
    # 2. BEGIN (the apply's transaction, after the fetch);
    # 3. SELECT … FOR UPDATE the service's balances;
    # 4. one statement: stamp the balances as synced, finish the run, record the
    #    connection's success (core/sqlcombine.update_rows);
    # 5. SELECT whether the service has an unresolved alert (alerts, on SyncFinished);
    # 6. COMMIT.
    assert len(sql) == 6, "\n".join(sql)
    assert sql[0].startswith("WITH claimed AS (UPDATE") and "RETURNING" in sql[0]
    assert sql[1] == "BEGIN" and sql[-1] == "COMMIT"
    assert sql[2].startswith("SELECT") and sql[2].endswith("FOR UPDATE")
    assert sql[3].startswith("WITH u0 AS (UPDATE") and '"balances_syncrun"' in sql[3]
    assert "alerts_alert" in sql[4]
    run.refresh_from_db()
    assert (run.status, run.attempts, run.unchanged_count) == ("succeeded", 1, count)
    assert run.started_at is not None and run.finished_at >= run.started_at
    balances = Balance.objects.filter(service=service)
    assert {b.last_synced_at for b in balances} == {run.finished_at}  # the stamp is truthful
    assert {b.version for b in balances} == {2}  # the first sync's change only
    assert not BalanceChange.objects.filter(sync_run=run).exists()
    connection_row = ProviderConnection.objects.get(service=service)
    assert connection_row.last_success_at == run.finished_at


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("count", [2, 20])
def test_a_batch_costs_no_more_per_service(provider, connect, count, settings):
    settings.SYNC_BATCH_THREADS = 4
    codes = CODES[:count]
    provider.route(SYNCPAY_PATH, syncpay_body(*[(c, "5.00", "0.00") for c in codes]))
    services = [fleet_service(connect, provider.url, codes) for _ in range(4)]
    for service in services:
        sync_execute_batch(items=[(new_run(service).public_id, service.pk)])
    runs = [new_run(s) for s in services]

    with CaptureQueriesContext(connection) as ctx:
        outcomes = sync_execute_batch(items=[(r.public_id, r.service_id) for r in runs])

    assert {o.status for o in outcomes.values()} == {"succeeded"}
    sql = statements(ctx)
    # One claim for the whole batch, then per service: BEGIN, lock, the combined update,
    # the alerts check, COMMIT.
    assert len(sql) == 1 + 5 * len(services), "\n".join(sql)
    assert len([s for s in sql if not s.startswith(TRANSACTION)]) == 1 + 3 * len(services)


def test_batch_fetches_concurrently_and_applies_each_service(connect, allow_listed, settings):
    settings.SYNC_BATCH_THREADS = 4
    with ProviderServer() as server:
        allow_listed(server.url)
        server.route(SYNCPAY_PATH, syncpay_body(("USD", "12.34", "1.00")), delay=0.4)
        services = [fleet_service(connect, server.url, ["USD"]) for _ in range(4)]
        runs = [new_run(s) for s in services]
        started = time.monotonic()
        outcomes = sync_execute_batch(items=[(r.public_id, r.service_id) for r in runs])
        elapsed = time.monotonic() - started

    assert {o.status for o in outcomes.values()} == {"succeeded"}
    assert elapsed < 4 * 0.4  # four answers of 0.4 s each, awaited side by side
    for run in runs:
        run.refresh_from_db()
        assert (run.status, run.attempts, run.updated_count) == ("succeeded", 1, 1)
        assert BalanceChange.objects.filter(sync_run=run, kind="synced").count() == 1
    assert set(
        Balance.objects.filter(service__in=services).values_list("available", flat=True)
    ) == {D("12.34")}


def test_batch_keeps_every_guarantee_per_service(connect, allow_listed, settings):
    """One batch: a success, a provider error to retry (that service alone), an
    unauthorized one (failed, counted on its connection), a service whose lock another
    worker holds (handed back untouched) and a run that already ended (left alone)."""
    with ProviderServer() as good, ProviderServer() as down, ProviderServer() as refused:
        for server in (good, down, refused):
            allow_listed(server.url)
        good.route(SYNCPAY_PATH, syncpay_body(("USD", "7.00", "0.00")))
        down.route(SYNCPAY_PATH, {"error": {"code": "DOWN", "message": "maintenance"}}, status=503)
        refused.route(
            SYNCPAY_PATH, {"error": {"code": "UNAUTHORIZED", "message": "Invalid key"}}, status=401
        )
        ok = fleet_service(connect, good.url, ["USD"])
        retry = fleet_service(connect, down.url, ["USD"])
        failed = fleet_service(connect, refused.url, ["USD"])
        busy = fleet_service(connect, good.url, ["USD"])
        ended = fleet_service(connect, good.url, ["USD"])
        runs = {s: new_run(s) for s in (ok, retry, failed, busy, ended)}
        SyncRun.objects.filter(pk=runs[ended].pk).update(status="succeeded")
        token = locks.acquire(locks.service_lock_name(busy.pk), 30)
        try:
            outcomes = sync_execute_batch(items=[(r.public_id, s.pk) for s, r in runs.items()])
        finally:
            locks.release(locks.service_lock_name(busy.pk), token)

    status = {s: outcomes[r.public_id].status for s, r in runs.items()}
    assert status == {ok: "succeeded", retry: "retry", failed: "failed", busy: "busy",
                      ended: "finished"}  # fmt: skip
    assert outcomes[runs[retry].public_id].retry_in > 0
    fresh = {s: SyncRun.objects.get(pk=r.pk) for s, r in runs.items()}
    assert (fresh[retry].status, fresh[retry].attempts) == ("queued", 1)
    assert fresh[retry].next_attempt_at is not None and "retrying" in fresh[retry].error_message
    assert (fresh[failed].status, fresh[failed].error_category) == ("failed", "auth")
    assert ProviderConnection.objects.get(service=failed).consecutive_failures == 1
    assert ProviderConnection.objects.get(service=retry).consecutive_failures == 0
    assert (fresh[busy].status, fresh[busy].attempts) == ("queued", 0)  # untouched
    assert fresh[ended].attempts == 0
    assert Balance.objects.get(service=ok).available == D("7.00")
    assert Balance.objects.get(service=busy).available == D("0")
    # Every lock the batch took is free again.
    assert all(locks.remaining(locks.service_lock_name(s.pk)) == 0 for s in runs)


def test_a_redelivered_batch_changes_nothing_twice(provider, connect):
    provider.route(SYNCPAY_PATH, syncpay_body(("USD", "3.00", "0.00")))
    services = [fleet_service(connect, provider.url, ["USD"]) for _ in range(3)]
    items = [(new_run(s).public_id, s.pk) for s in services]

    first = sync_execute_batch(items=items)
    again = sync_execute_batch(items=items)

    assert {o.status for o in first.values()} == {"succeeded"}
    assert {o.status for o in again.values()} == {"finished"}
    assert provider.hits(SYNCPAY_PATH) == 3
    assert BalanceChange.objects.filter(service__in=services, kind="synced").count() == 3


def test_an_unexpected_exception_ends_its_run_only(provider, connect, monkeypatch):
    provider.route(SYNCPAY_PATH, syncpay_body(("USD", "3.00", "0.00")))
    healthy, broken = (fleet_service(connect, provider.url, ["USD"]) for _ in range(2))
    runs = {s: new_run(s) for s in (healthy, broken)}
    from balances.sync import execute

    real = execute.snapshot_apply

    def apply(*, run, **kwargs):
        if run.service_id == broken.pk:
            raise ZeroDivisionError("a bug")
        return real(run=run, **kwargs)

    monkeypatch.setattr(execute, "snapshot_apply", apply)
    outcomes = sync_execute_batch(items=[(r.public_id, s.pk) for s, r in runs.items()])

    assert outcomes[runs[healthy].public_id].status == "succeeded"
    assert outcomes[runs[broken].public_id].status == "failed"
    failed = SyncRun.objects.get(pk=runs[broken].pk)
    assert (failed.status, failed.error_category) == ("failed", "internal")
    assert "ZeroDivisionError" in failed.error_message and "a bug" not in failed.error_message
    assert locks.remaining(locks.service_lock_name(broken.pk)) == 0


def test_batch_task_queues_each_retry_alone(provider, connect, monkeypatch):
    from balances import tasks

    provider.route(SYNCPAY_PATH, {"error": {"code": "DOWN", "message": "down"}}, status=503)
    service = fleet_service(connect, provider.url, ["USD"])
    run = new_run(service)
    queued = []
    monkeypatch.setattr(
        tasks.sync_service, "apply_async", lambda args, countdown: queued.append((args, countdown))
    )

    counts = tasks.sync_batch.apply(args=([[run.public_id, service.pk]],)).get()

    assert counts == {"retry": 1}
    ((args, countdown),) = queued
    assert args == (run.public_id, service.pk) and countdown > 0


def test_scheduler_queues_batches_of_one_provider_kind(provider, connect, settings, monkeypatch):
    from balances.sync import request

    settings.CELERY_TASK_ALWAYS_EAGER = False  # batches are for workers
    settings.SYNC_BATCH_SIZE = 2
    monkeypatch.setattr(request, "_queue_reachable", lambda: True)
    published = []
    monkeypatch.setattr(
        request, "_enqueue_batch", lambda runs, countdown=None: published.append(runs)
    )
    monkeypatch.setattr(request, "_enqueue", lambda run, countdown=None: published.append([run]))
    syncpay = [fleet_service(connect, provider.url, ["USD"]) for _ in range(3)]
    payop = ServiceFactory()
    connect(payop, provider.url, kind="payop", credentials={"token": "jwt-token-1"})

    assert sync_schedule_due() == 4

    kinds = [{run.provider_kind for run in batch} for batch in published]
    assert sorted(len(batch) for batch in published) == [1, 1, 2]
    assert all(len(k) == 1 for k in kinds)  # one provider kind per batch
    runs = [run for batch in published for run in batch]
    assert {r.service_id for r in runs} == {s.pk for s in [*syncpay, payop]}
    assert {r.trigger for r in runs} == {"schedule"}
    # A second tick finds every service syncing (or not due): nothing twice.
    assert sync_schedule_due() == 0


def test_request_many_skips_services_already_syncing(provider, connect, settings, monkeypatch):
    from balances.sync import request

    settings.CELERY_TASK_ALWAYS_EAGER = False
    published = []
    monkeypatch.setattr(request, "_queue_reachable", lambda: True)
    monkeypatch.setattr(
        request, "_enqueue_batch", lambda runs, countdown=None: published.append(runs)
    )
    services = [fleet_service(connect, provider.url, ["USD"]) for _ in range(3)]
    busy = new_run(services[0])
    lonely = ServiceFactory()  # no connection

    runs = sync_request_many(services=[*services, lonely], trigger="command")

    assert {r.service_id for r in runs} == {services[1].pk, services[2].pk}
    assert [len(b) for b in published] == [2]
    assert SyncRun.objects.filter(service=services[0]).get() == busy


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_never_sync_a_service_twice(provider, connect):
    """Two deliveries of the same batch at once (a redelivery while the first still runs):
    the per-service lock and the run's state let each service be synced once."""
    provider.route(SYNCPAY_PATH, syncpay_body(("USD", "9.00", "0.00")), delay=0.2)
    services = [fleet_service(connect, provider.url, ["USD"]) for _ in range(3)]
    items = [(new_run(s).public_id, s.pk) for s in services]
    results: list[dict] = []

    def deliver():
        try:
            results.append(sync_execute_batch(items=items))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(o.status for r in results for o in r.values())
    assert statuses.count("succeeded") == 3
    assert set(statuses) <= {"succeeded", "busy", "finished"}
    assert BalanceChange.objects.filter(service__in=services, kind="synced").count() == 3


def test_a_batch_stopped_by_celerys_time_limit_fails_its_unfinished_runs(
    provider, connect, monkeypatch
):
    from celery.exceptions import SoftTimeLimitExceeded

    from balances import tasks

    provider.route(SYNCPAY_PATH, syncpay_body(("USD", "3.00", "0.00")))
    done, stuck = (fleet_service(connect, provider.url, ["USD"]) for _ in range(2))
    finished, waiting = new_run(done), new_run(stuck)
    SyncRun.objects.filter(pk=finished.pk).update(status="succeeded")

    def stopped(*, items):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(tasks, "sync_execute_batch", stopped)
    items = [[finished.public_id, done.pk], [waiting.public_id, stuck.pk]]
    tasks.sync_batch.apply(args=(items,)).get()

    waiting.refresh_from_db()
    finished.refresh_from_db()
    assert (waiting.status, waiting.error_category) == ("failed", "timeout")
    assert finished.status == "succeeded"  # an ended run is left alone


def test_a_batch_takes_its_locks_in_one_call_and_a_rate_limit_slot_per_fetch(
    provider, connect, monkeypatch
):
    from core import ratelimit as shared_ratelimit

    provider.route(SYNCPAY_PATH, syncpay_body(("USD", "3.00", "0.00")))
    services = [fleet_service(connect, provider.url, ["USD"]) for _ in range(4)]
    calls = {"hit": 0, "acquire": 0, "acquire_many": 0}

    def counted(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counted(shared_ratelimit, "hit")
    counted(locks, "acquire")
    counted(locks, "acquire_many")

    outcomes = sync_execute_batch(items=[(new_run(s).public_id, s.pk) for s in services])

    assert {o.status for o in outcomes.values()} == {"succeeded"}
    assert provider.hits(SYNCPAY_PATH) == 4
    assert calls == {"hit": 4, "acquire": 0, "acquire_many": 1}


def sync_changing_20_balances(provider, connect) -> tuple[SyncRun, list[str]]:
    """A first sync of a service with 20 currencies (every balance changes): the run and
    the statements it sent."""
    codes = CODES[:20]
    service = fleet_service(connect, provider.url, codes)
    provider.route(SYNCPAY_PATH, syncpay_body(*[(c, "5.00", "0.00") for c in codes]))
    run = new_run(service)
    with CaptureQueriesContext(connection) as ctx:
        outcome = sync_execute(run_public_id=run.public_id, service_id=service.pk)
    assert outcome.status == "succeeded"
    return run, statements(ctx)


# Transactional: the after-commit work runs at the apply's real commit, as in production.
@pytest.mark.django_db(transaction=True)
def test_a_sync_that_changes_every_balance_reads_the_webhooks_once(provider, connect):
    run, sql = sync_changing_20_balances(provider, connect)
    # 20 balance changes announced after the commit, from one reading of the active
    # webhooks (events.shared_reads around the apply): 20 readings before.
    assert len([s for s in sql if '"webhooks_webhook"' in s]) == 1, "\n".join(sql)
    # The claim, BEGIN, the lock, the balances' new figures, their history, the run's end
    # with the connection's success, the alerts check, COMMIT, the active webhooks: 9, the
    # figure benchmarks/sync_bench.py prints for 20 currencies (28 before).
    assert len(sql) == 9, "\n".join(sql)
    assert sql[-2] == "COMMIT" and '"webhooks_webhook"' in sql[-1]
    run.refresh_from_db()
    assert (run.status, run.updated_count) == ("succeeded", 20)


@pytest.mark.django_db(transaction=True)
def test_every_changed_balance_still_reaches_a_webhook_from_one_reading(
    provider, connect, settings
):
    from core.actors import Actor
    from tests.webhooks.receiver import Receiver
    from webhooks.actions import webhook_create
    from webhooks.models import WebhookDelivery

    receiver = Receiver()
    try:
        settings.WEBHOOK_URL_ALLOWLIST = [*settings.WEBHOOK_URL_ALLOWLIST, receiver.host_port]
        webhook, _secret = webhook_create(
            url=receiver.url(), events=["balance.changed"], actor=Actor.system("tests")
        )
        _run, sql = sync_changing_20_balances(provider, connect)
        reads = [s for s in sql if 'FROM "webhooks_webhook" w WHERE' in s]
        assert len(reads) == 1
        deliveries = WebhookDelivery.objects.filter(webhook=webhook).select_related("event")
        assert deliveries.count() == 20
        bodies = [json.loads(bytes(d.event.body)) for d in deliveries]
        assert {body["data"]["currency"] for body in bodies} == set(CODES[:20])
        assert len(receiver.requests) == 20  # delivered (tasks run in this process here)
    finally:
        receiver.close()
