"""Two writers at once, each in its own thread with its own PostgreSQL connection and its own
transaction: the database, not Python, decides who wins."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import Client

from balances import actions
from balances.models import Balance, BalanceChange
from core.actors import Actor
from core.errors import AlreadyExists, StaleVersion
from tests.db_helpers import Worker
from tests.factories import BalanceFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 10  # seconds; generous, the threads normally meet within milliseconds


@pytest.fixture(autouse=True)
def _postgresql_only():
    assert connection.vendor == "postgresql", (
        "Locking is tested where it runs: start pytest with DATABASE_URL pointing at "
        "PostgreSQL (it must be in the environment before pytest-django reads the settings)."
    )


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def _wait_until(predicate, timeout=WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def balance():
    return BalanceFactory(
        service=ServiceFactory(name="Race Ltd"), currency="EUR", available=Decimal("100.00")
    )


def test_second_of_two_concurrent_edits_gets_stale_version_and_overwrites_nothing(balance):
    alice = Actor.for_user(UserFactory(username="alice", role="operator"))
    bob = Actor.for_user(UserFactory(username="bob", role="operator"))
    service = balance.service
    both_read = threading.Barrier(2, timeout=WAIT)
    alice_wrote = threading.Event()
    alice_may_commit = threading.Event()

    def alice_edits():
        with transaction.atomic():
            seen = Balance.objects.get(pk=balance.pk).version
            both_read.wait()
            updated = actions.balance_update(
                service=service,
                currency="EUR",
                amount="111.11",
                expected_version=seen,
                actor=alice,
                reason="alice",
            )
            alice_wrote.set()
            # Keep the row locked and uncommitted until bob is queued behind the lock.
            assert alice_may_commit.wait(WAIT)
        return seen, updated.version

    def bob_edits():
        seen = Balance.objects.get(pk=balance.pk).version
        both_read.wait()
        assert alice_wrote.wait(WAIT)
        actions.balance_update(
            service=service,
            currency="EUR",
            amount="222.22",
            expected_version=seen,
            actor=bob,
            reason="bob",
        )
        return seen

    a, b = Worker(alice_edits), Worker(bob_edits)
    a.start()
    b.start()
    # Bob's write blocks in PostgreSQL on the row alice holds: the database serialises them.
    assert _wait_until(_waiting_on_a_lock), "bob's write never waited for alice's row lock"
    assert b.is_alive()
    alice_may_commit.set()

    alice_saw, alice_version = a.outcome()
    bob_error = b.outcome()
    assert alice_saw == 1
    assert alice_version == 2
    assert isinstance(bob_error, StaleVersion), bob_error
    assert "it is now 111.11 EUR" in bob_error.message
    assert bob_error.current.version == 2

    balance.refresh_from_db()
    assert balance.available == Decimal("111.11")
    assert balance.version == 2
    assert balance.updated_by_label == "alice"
    [entry] = BalanceChange.objects.filter(balance=balance)
    assert (entry.actor_label, entry.new_available) == ("alice", Decimal("111.11"))


@pytest.mark.parametrize("round_", range(3))
def test_of_two_racing_edits_from_the_same_version_exactly_one_wins(balance, round_):
    service = balance.service
    start = threading.Barrier(2, timeout=WAIT)

    def edit(amount: str, who: str):
        def run():
            seen = Balance.objects.get(pk=balance.pk).version
            start.wait()
            actions.balance_update(
                service=service,
                currency="EUR",
                amount=amount,
                expected_version=seen,
                actor=Actor.system(who),
                reason=who,
            )
            return amount

        return run

    workers = [Worker(edit("1.00", "one")), Worker(edit("2.00", "two"))]
    for w in workers:
        w.start()
    outcomes = [w.outcome() for w in workers]

    wins = [o for o in outcomes if isinstance(o, str)]
    stale = [o for o in outcomes if isinstance(o, StaleVersion)]
    assert len(wins) == 1 and len(stale) == 1, outcomes
    balance.refresh_from_db()
    assert balance.available == Decimal(wins[0])
    assert balance.version == 2
    assert BalanceChange.objects.filter(balance=balance).count() == 1


def test_two_concurrent_creates_of_one_currency_give_one_balance():
    service = ServiceFactory(name="Twin Ltd")
    start = threading.Barrier(2, timeout=WAIT)

    def create(amount: str):
        def run():
            start.wait()
            return actions.balance_create(
                service=service, currency="GBP", amount=amount, actor=Actor.system("t")
            )

        return run

    workers = [Worker(create("1.00")), Worker(create("2.00"))]
    for w in workers:
        w.start()
    outcomes = [w.outcome() for w in workers]

    assert sum(isinstance(o, Balance) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, AlreadyExists) for o in outcomes) == 1, outcomes
    assert Balance.objects.filter(service=service, currency="GBP").count() == 1
    assert BalanceChange.objects.filter(service=service, currency="GBP").count() == 1


def test_an_edit_and_its_history_become_visible_together(balance):
    """Another connection sees neither the new amount nor its history entry until the one
    transaction that wrote both commits."""
    service = balance.service
    written = threading.Event()
    may_commit = threading.Event()

    def edit():
        with transaction.atomic():
            actions.balance_update(
                service=service,
                currency="EUR",
                amount="5.00",
                expected_version=1,
                actor=Actor.system("t"),
                reason="together",
            )
            written.set()
            assert may_commit.wait(WAIT)

    worker = Worker(edit)
    worker.start()
    assert written.wait(WAIT)
    try:
        assert Balance.objects.get(pk=balance.pk).available == Decimal("100.00")
        assert not BalanceChange.objects.filter(service=service).exists()
    finally:
        may_commit.set()
    assert worker.outcome() is None
    assert Balance.objects.get(pk=balance.pk).available == Decimal("5.00")
    assert BalanceChange.objects.filter(service=service, reason="together").count() == 1


def test_a_failure_after_the_write_commits_neither(balance, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("history store down")

    monkeypatch.setattr(BalanceChange.objects, "create", broken)
    with pytest.raises(RuntimeError):
        actions.balance_update(
            service=balance.service,
            currency="EUR",
            amount="9.99",
            expected_version=1,
            actor=Actor.system("t"),
            reason="lost",
        )
    monkeypatch.undo()

    # Read back on a fresh connection: nothing of the failed write was committed.
    reader = Worker(lambda: Balance.objects.values_list("available", "version").get(pk=balance.pk))
    reader.start()
    assert reader.outcome() == (Decimal("100.00"), 1)
    assert not BalanceChange.objects.exists()


def test_a_double_submitted_delete_does_not_fail(balance):
    """Two "Confirm delete" posts for one balance (a double click, or two operators): the
    second one waits for the first, then finds the balance gone and says so."""
    operator = UserFactory(username="dora", role="operator")
    service = balance.service
    path = f"/services/{service.public_id}/balances/EUR/delete/"
    first_deleted = threading.Event()
    first_may_commit = threading.Event()

    def first():
        with transaction.atomic():
            actions.balance_delete(
                service=service, currency="EUR", actor=Actor.for_user(operator), expected_version=1
            )
            first_deleted.set()
            assert first_may_commit.wait(WAIT)

    def second():
        client = Client()
        client.force_login(operator)
        assert first_deleted.wait(WAIT)
        return client.post(path, {"version": "1"})

    a, b = Worker(first), Worker(second)
    a.start()
    b.start()
    assert _wait_until(_waiting_on_a_lock), "the second delete never waited for the first"
    first_may_commit.set()

    assert a.outcome() is None
    response = b.outcome()
    assert not isinstance(response, BaseException), response
    assert response.status_code == 302
    assert response["Location"] == f"/services/{service.public_id}/balances/"
    assert not Balance.objects.filter(pk=balance.pk).exists()
    assert BalanceChange.objects.filter(kind="deleted").count() == 1
