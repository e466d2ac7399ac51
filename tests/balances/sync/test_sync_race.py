"""The sync/edit race on PostgreSQL, with real concurrent transactions: an operator edit is
never lost silently, and the history tells what happened."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection as db_connection

from balances.actions import balance_create, balance_update
from balances.models import Balance, BalanceChange, SyncRun
from balances.sync.execute import sync_execute
from balances.sync.request import sync_request
from core.actors import Actor
from core.errors import StaleVersion
from tests.factories import ServiceFactory
from tests.provider_server import SYNCPAY_PATH, Reply, syncpay_body

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def service(operator):
    service = ServiceFactory(name="Race Ltd")
    balance_create(
        service=service, currency="EUR", amount=D("100.00"), actor=Actor.for_user(operator)
    )
    return service


@pytest.fixture(autouse=True)
def _no_protection(settings):
    """The race itself, without the protection of values set by hand (with it, the edit is
    held for review instead of replaced: tests/balances/sync/test_sync_reviews.py)."""
    settings.SYNC_PROTECTION_HOURS = 0


def _queued_run(service) -> SyncRun:
    # Committed (transactional test) but not executed: the eager task would run on commit,
    # so the run is created directly, as the task's caller would have.
    return SyncRun.objects.create(service=service, provider_kind="syncpay", trigger="button")


def test_edit_landing_during_the_fetch_makes_the_sync_fetch_again(
    service, provider, connect, operator
):
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("EUR", "90.00", "0.00")), delay=0.3))
    connect(service, provider.url)
    run = _queued_run(service)
    edited = threading.Event()

    def operator_edits_while_provider_answers(path: str) -> None:
        if edited.is_set():
            return
        edited.set()
        try:
            balance_update(
                service=service,
                currency="EUR",
                amount=D("150.00"),
                expected_version=1,
                actor=Actor.for_user(operator),
                reason="customer refund booked by hand",
            )
        finally:
            db_connection.close()  # this runs in the server's thread

    provider.on_request = operator_edits_while_provider_answers
    outcome = sync_execute(run_public_id=run.public_id)

    assert outcome.status == "succeeded"
    assert provider.hits(SYNCPAY_PATH) == 2  # the first snapshot predates the edit
    balance = Balance.objects.get(service=service)
    assert balance.available == D("90.00")
    kinds = list(
        BalanceChange.objects.filter(service=service)
        .order_by("created_at", "id")
        .values_list("kind", "actor_label", "old_available", "new_available")
    )
    assert kinds == [
        ("created", operator.username, None, D("100.00")),
        ("updated", operator.username, D("100.00"), D("150.00")),
        ("synced", "sync:syncpay", D("150.00"), D("90.00")),
    ]
    run.refresh_from_db()
    assert run.result["replacedManualEdits"][0]["by"] == operator.username


def test_edit_opened_before_a_sync_is_refused_after_it(service, provider, connect, operator):
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("EUR", "90.00", "0.00"))))
    connect(service, provider.url)
    opened_at_version = Balance.objects.get(service=service).version
    run = _queued_run(service)
    assert sync_execute(run_public_id=run.public_id).status == "succeeded"

    with pytest.raises(StaleVersion) as exc:
        balance_update(
            service=service,
            currency="EUR",
            amount=D("150.00"),
            expected_version=opened_at_version,
            actor=Actor.for_user(operator),
            reason="too late",
        )
    assert "90.00" in exc.value.message
    assert Balance.objects.get(service=service).available == D("90.00")


def test_edit_racing_the_apply_waits_for_the_row_lock_and_is_refused(
    service, provider, connect, operator
):
    """Both commit paths lock the row: whichever commits second sees the other's version."""
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("EUR", "90.00", "0.00"))))
    connect(service, provider.url)
    run = _queued_run(service)
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def sync() -> None:
        barrier.wait()
        results["sync"] = sync_execute(run_public_id=run.public_id).status
        db_connection.close()

    def edit() -> None:
        barrier.wait()
        try:
            balance_update(
                service=service,
                currency="EUR",
                amount=D("150.00"),
                expected_version=1,
                actor=Actor.for_user(operator),
                reason="racing",
            )
            results["edit"] = "saved"
        except StaleVersion:
            results["edit"] = "stale"
        finally:
            db_connection.close()

    threads = [threading.Thread(target=sync), threading.Thread(target=edit)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results["sync"] == "succeeded"
    final = Balance.objects.get(service=service)
    history = list(BalanceChange.objects.filter(service=service).exclude(kind="created"))
    if results["edit"] == "saved":
        # The edit won the race: the sync noticed and read the provider again afterwards.
        assert final.available == D("90.00")
        assert {h.kind for h in history} == {"updated", "synced"}
    else:
        # The sync won: the operator was refused and nothing of theirs was written.
        assert final.available == D("90.00")
        assert [h.kind for h in history] == ["synced"]


def test_two_workers_on_one_run_never_apply_twice(service, provider, connect):
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("EUR", "90.00", "0.00")), delay=0.5))
    connect(service, provider.url)
    run = _queued_run(service)
    outcomes: list[str] = []

    def worker() -> None:
        outcomes.append(sync_execute(run_public_id=run.public_id).status)
        db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["busy", "succeeded"]
    assert provider.hits(SYNCPAY_PATH) == 1
    assert BalanceChange.objects.filter(service=service, kind="synced").count() == 1
    # A redelivered task for the finished run does nothing.
    assert sync_execute(run_public_id=run.public_id).status == "finished"
    assert provider.hits(SYNCPAY_PATH) == 1


def test_sync_request_is_exclusive_under_concurrency(service, provider, connect):
    connect(service, provider.url)
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("EUR", "90.00", "0.00")), delay=0.3))
    created: list[str] = []
    refused: list[str] = []
    barrier = threading.Barrier(5)

    def request() -> None:
        barrier.wait()
        try:
            created.append(sync_request(service=service, trigger="api").public_id)
        except Exception as exc:  # SyncAlreadyRunning or Conflict
            refused.append(type(exc).__name__)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=request) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # Runs end quickly (eager tasks), so a later request may start a new one; but at no time
    # were two active, which the partial unique index guarantees.
    assert len(created) + len(refused) == 5
    assert SyncRun.objects.filter(service=service, status__in=SyncRun.ACTIVE).count() == 0
