"""Payouts under concurrency: many requests at once, each in its own thread with its own
PostgreSQL connection and transaction.  The balance row lock, not Python, must keep the
money rules."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, connections

from balances.models import Balance, BalanceChange
from core.actors import Actor
from core.errors import Conflict, DomainError, Unprocessable
from payouts import actions, creation
from payouts.models import Payout
from tests.factories import BalanceFactory, FeeProfileFactory, ServiceFactory
from tests.payouts.conftest import held_on

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
WAIT = 60  # seconds; generous: the requests normally finish within a second
ACTOR = Actor.system("tests")
PRICE = D("101.75")  # a payout of 100.00 EUR with 1.5 % + 0.25


@pytest.fixture(autouse=True)
def _postgresql_only():
    assert connection.vendor == "postgresql", (
        "Locking is tested where it runs: start pytest with DATABASE_URL pointing at "
        "PostgreSQL (it must be in the environment before pytest-django reads the settings)."
    )


@pytest.fixture
def service():
    profile = FeeProfileFactory(
        name="Race pricing",
        rules=[
            {"operation": "payout", "currency": "EUR", "percentage": "1.5", "fixed_amount": "0.25"}
        ],
    )
    return ServiceFactory(name="Race Ltd", fee_profile=profile)


@pytest.fixture(params=[True, False], ids=["watched", "unwatched"])
def watched(request) -> bool:
    """Balance.watched of the balances made: an unwatched balance takes payouts in one
    statement each (payouts.creation._write_at_once), a watched one in a transaction with
    the alert rules' evaluation (_write).  Both must keep every rule."""
    return request.param


def run_concurrently(count: int, target) -> list:
    """``target(i)`` in ``count`` threads released together; results (or exceptions) in order."""
    start = threading.Barrier(count, timeout=WAIT)
    results: list = [None] * count

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = target(i)
        except BaseException as exc:  # handed back to the test thread
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(t.is_alive() for t in threads), "a request never finished"
    return results


class FreeFundsWatcher(threading.Thread):
    """Reads available - held over and over, on its own connection, while requests run."""

    def __init__(self, balance: Balance):
        super().__init__(daemon=True)
        self.balance = balance
        self.lowest: Decimal | None = None
        self.readings = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                free = Balance.objects.get(pk=self.balance.pk).available_for_payout
                self.lowest = free if self.lowest is None else min(self.lowest, free)
                self.readings += 1
                time.sleep(0.002)
        finally:
            connections.close_all()


def test_50_concurrent_payouts_against_funds_for_10_create_exactly_10(
    service, watched, monkeypatch
):
    balance = BalanceFactory(service=service, currency="EUR", available=10 * PRICE, watched=watched)
    at_once = []  # the payouts written in one statement
    write_at_once = creation._write_at_once

    def spy(*args, **kwargs):
        payout = write_at_once(*args, **kwargs)
        if payout is not None:
            at_once.append(payout)
        return payout

    monkeypatch.setattr(creation, "_write_at_once", spy)
    watcher = FreeFundsWatcher(balance)
    watcher.start()

    def request(i: int):
        return actions.payout_create(
            service=service,
            currency="EUR",
            amount="100.00",
            destination=f"beneficiary-{i}",
            actor=ACTOR,
        )

    results = run_concurrently(50, request)
    watcher.stop.set()
    watcher.join(WAIT)

    created = [r[0] for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, DomainError)]
    unexpected = [r for r in results if not isinstance(r, tuple | DomainError)]
    assert not unexpected, unexpected
    assert len(created) == 10
    assert len(refused) == 40
    assert {e.code for e in refused} == {"insufficient_funds"}
    assert all(isinstance(e, Unprocessable) for e in refused)
    assert Payout.objects.filter(service=service).count() == 10
    assert all(p.total == PRICE for p in created)
    # Unwatched, every payout is one statement; watched, at least the first is written in a
    # transaction (its alert evaluation finds no rule and marks the balance unwatched).
    assert len(at_once) == 10 if not watched else len(at_once) < 10

    # Available for payout never went below zero, as seen from outside while they ran.
    assert watcher.readings > 0 and watcher.lowest is not None and watcher.lowest >= 0
    balance.refresh_from_db()
    assert balance.available == 10 * PRICE, "creating holds; it does not debit"
    assert held_on(service.pk) == 10 * PRICE

    # Pay them all, concurrently too: the holds turn into debits, one history entry each.
    def pay(i: int):
        payout = actions.payout_process(payout=created[i], actor=ACTOR)
        return actions.payout_pay(payout=payout, actor=ACTOR)

    paid = run_concurrently(10, pay)
    assert all(isinstance(p, Payout) and p.status == "paid" for p in paid), paid
    balance.refresh_from_db()
    assert balance.available == 0
    assert held_on(service.pk) == 0
    changes = list(BalanceChange.objects.filter(kind="payout").order_by("version"))
    assert len(changes) == 10
    assert {c.payout_public_id for c in changes} == {p.public_id for p in created}
    # The history adds up: each debit starts where the previous one ended.
    running = 10 * PRICE
    for change in changes:
        assert change.old_available == running
        running -= PRICE
        assert change.new_available == running
    assert sum(c.old_available - c.new_available for c in changes) == 10 * PRICE


def test_the_same_idempotency_key_sent_10_times_at_once_creates_one_payout(service, watched):
    BalanceFactory(service=service, currency="EUR", available=D("1000.00"), watched=watched)

    def request(i: int):
        return actions.payout_create(
            service=service,
            currency="EUR",
            amount="100.00",
            destination="beneficiary",
            idempotency_key="order-42",
            actor=ACTOR,
        )

    results = run_concurrently(10, request)
    assert all(isinstance(r, tuple) for r in results), results
    assert len({payout.pk for payout, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Payout.objects.filter(service=service).count() == 1
    assert held_on(service.pk) == PRICE


def test_one_key_raced_across_two_balances_still_makes_one_payout(service, watched):
    """Different currencies lock different balance rows; the unique constraint decides."""
    BalanceFactory(service=service, currency="EUR", available=D("1000.00"), watched=watched)
    BalanceFactory(service=service, currency="USD", available=D("1000.00"), watched=watched)

    def request(i: int):
        return actions.payout_create(
            service=service,
            currency="EUR" if i % 2 else "USD",
            amount="100.00",
            destination="beneficiary",
            idempotency_key="order-43",
            actor=ACTOR,
        )

    results = run_concurrently(10, request)
    assert Payout.objects.filter(service=service).count() == 1
    winner = Payout.objects.get(service=service)
    for result in results:
        if isinstance(result, tuple):
            assert result[0].pk == winner.pk and result[0].currency == winner.currency
        else:
            assert isinstance(result, Conflict), result
            assert result.code == "idempotency_key_reused"
