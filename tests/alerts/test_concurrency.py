"""Alerts under concurrent writes: each write in its own thread, with its own PostgreSQL
connection and transaction.  The balance row lock serialises the evaluations of one balance,
and the "one unresolved alert per rule and balance" constraint makes a second open impossible
whatever the path."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, connections, transaction

from alerts import actions as alert_actions
from alerts import evaluate
from alerts.models import Alert
from balances import actions as balance_actions
from core.actors import Actor
from tests.factories import BalanceFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
WAIT = 60  # seconds; generous: the writes normally finish within a second
WRITERS = 20


@pytest.fixture(autouse=True)
def _postgresql_only():
    assert connection.vendor == "postgresql", "locking is tested where it runs: PostgreSQL"


def run_concurrently(count: int, target) -> list:
    """``target(i)`` in ``count`` threads released together; results (or exceptions)."""
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
    assert not any(t.is_alive() for t in threads), "a write never finished"
    return results


@pytest.fixture
def setup():
    admin = Actor.for_user(UserFactory(username="admin-c", role="admin"))
    service = ServiceFactory(name="Race Ltd")
    BalanceFactory(service=service, currency="USD", available=D("500.00"))
    rule = alert_actions.rule_create(
        service=service, currency="USD", kind="available_below", threshold="100.00", actor=admin
    )
    return service, rule


def test_twenty_concurrent_writes_below_the_threshold_open_exactly_one_alert(setup):
    service, rule = setup
    operator = Actor.system("race")

    def write(i: int):
        return balance_actions.balance_update(
            service=service,
            currency="USD",
            amount=D("10.00") + i,  # every one of them below 100.00
            expected_version=None,
            actor=operator,
            reason=f"writer {i}",
        ).available

    results = run_concurrently(WRITERS, write)
    assert not [r for r in results if isinstance(r, BaseException)], results
    alerts = list(Alert.objects.filter(rule=rule))
    assert len(alerts) == 1
    assert alerts[0].status == "open"
    # The alert opened at the first write that crossed, whichever that was.
    assert D(alerts[0].opened_value) in {D("10.00") + i for i in range(WRITERS)}


def test_concurrent_writes_around_the_threshold_never_leave_two_unresolved(setup):
    service, rule = setup
    operator = Actor.system("race")

    def write(i: int):
        amount = D("50.00") if i % 2 else D("150.00")  # crossing back and forth
        return balance_actions.balance_update(
            service=service,
            currency="USD",
            amount=amount,
            expected_version=None,
            actor=operator,
            reason=f"writer {i}",
        ).available

    results = run_concurrently(WRITERS, write)
    assert not [r for r in results if isinstance(r, BaseException)], results
    unresolved = Alert.objects.filter(rule=rule, status__in=Alert.UNRESOLVED).count()
    final = service.balances.get(currency="USD").available
    assert unresolved == (1 if final < D("100.00") else 0)
    # Every alert but the last resolved; each opened below and resolved at or above.
    for alert in Alert.objects.filter(rule=rule, status="resolved"):
        assert D(alert.opened_value) < D("100.00") <= D(alert.resolved_value)


def test_the_database_refuses_a_second_unresolved_alert_for_one_rule_and_balance(setup):
    service, rule = setup
    state = evaluate.BalanceState(
        service_id=service.pk,
        service_public_id=service.public_id,
        currency="USD",
        available=D("1.00"),
        held=D(0),
    )
    with transaction.atomic():
        first = evaluate.open_alert(rule=rule, state=state, value="1.00", now=rule.created_at)
        # Evaluations without the row lock (the periodic check) can meet: the loser's insert
        # is dropped in its savepoint and the transaction goes on.
        second = evaluate.open_alert(rule=rule, state=state, value="1.00", now=rule.created_at)
    assert first is not None and second is None
    assert Alert.objects.filter(rule=rule).count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(
            rule=rule, service=service, currency="USD", kind=rule.kind, opened_value="2.00"
        )
