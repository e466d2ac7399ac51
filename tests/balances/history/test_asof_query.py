"""Balances as of a moment equal what the balances were, at many moments of a history built
through the real actions (tests/balances/history/conftest.py), on PostgreSQL and SQLite; one
query whatever the length of the history."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections

from balances.actions import balance_create, balance_update
from balances.history.asof import balances_as_of, changes_as_of
from balances.models import BalanceChange
from core.actors import Actor
from tests.balances.history.conftest import START, Clock, figures_now
from tests.factories import ServiceFactory

D = Decimal


def as_of(service, moment) -> dict[str, tuple]:
    return {
        b.currency: (
            b.available,
            b.pending,
            b.reserved,
            b.version,
            b.updated_at,
            b.updated_by_label,
        )
        for b in balances_as_of(service, moment)
    }


def moments(world) -> list:
    """Every step's exact timestamp, a microsecond before and after, and half-way."""
    found = [START - timedelta(days=1)]
    for at, _ in world.states:
        found += [at - timedelta(microseconds=1), at, at + timedelta(microseconds=1)]
        found.append(at + timedelta(seconds=30))
    return found


def test_as_of_equals_the_balances_at_every_moment_of_a_real_history(world):
    kinds = list(
        BalanceChange.objects.filter(service=world.service).order_by("id").values_list("kind")
    )
    assert {k for (k,) in kinds} >= {"created", "updated", "synced", "payout", "deleted"}
    for moment in moments(world):
        assert as_of(world.service, moment) == world.expected_at(moment), moment


def test_deleted_and_recreated_currencies_at_their_moments(world):
    (deleted_at, _), (recreated_at, _) = world.states[7], world.states[8]
    assert "KWD" not in as_of(world.service, deleted_at)
    assert as_of(world.service, deleted_at - timedelta(microseconds=1))["KWD"][0] == D("5.125")
    assert as_of(world.service, recreated_at)["KWD"][:4] == (D("0.001"), D(0), D(0), 1)
    # A currency created and deleted later is absent before its creation and after its end.
    created_at, gone_at = world.states[9][0], world.states[10][0]
    assert "USDT_TRC20" not in as_of(world.service, created_at - timedelta(microseconds=1))
    assert as_of(world.service, created_at)["USDT_TRC20"][0] == D("0.12345678")
    assert "USDT_TRC20" not in as_of(world.service, gone_at)


def test_now_equals_the_current_balances(world, clock):
    assert as_of(world.service, clock.advance(hours=1)) == figures_now(world.service)


def test_changes_at_the_same_instant_are_ordered_by_id(db, clock):
    service = ServiceFactory()
    actor = Actor.system("tests")
    balance_create(service=service, currency="EUR", amount="1.00", actor=actor)
    for amount in ("2.00", "3.00", "4.00"):  # the clock does not move: one created_at
        balance_update(
            service=service,
            currency="EUR",
            amount=amount,
            expected_version=None,
            actor=actor,
            reason="same instant",
        )
    assert as_of(service, clock.now)["EUR"][:4] == (D("4.00"), D(0), D(0), 4)


def test_filters_by_service_and_currency(world, clock):
    later = clock.advance(hours=1)
    both = {(c.service_id, c.currency) for c in changes_as_of(later)}
    assert both == {
        (world.service.pk, "EUR"),
        (world.service.pk, "KWD"),
        (world.other.pk, "EUR"),
    }
    only = changes_as_of(later, service_ids=[world.other.pk], currencies=["EUR"])
    assert [(c.service_id, c.currency, c.new_available) for c in only] == [
        (world.other.pk, "EUR", D("7.00"))
    ]


def grow_history(service, clock: Clock, changes: int) -> None:
    actor = Actor.system("tests")
    for n in range(changes):
        clock.advance(seconds=1)
        balance_update(
            service=service,
            currency="EUR",
            amount=D(n + 2),
            expected_version=None,
            actor=actor,
            reason="growth",
        )


@pytest.mark.parametrize("changes", [1, 40])
def test_one_query_whatever_the_length_of_the_history(
    db, clock, django_assert_num_queries, changes
):
    service = ServiceFactory()
    actor = Actor.system("tests")
    for code in ("EUR", "USD", "JPY"):
        balance_create(service=service, currency=code, amount="1", actor=actor)
    grow_history(service, clock, changes)
    with django_assert_num_queries(1):  # the latest entry per currency created by then
        balances = balances_as_of(service, clock.now)
    assert [b.currency for b in balances] == ["EUR", "JPY", "USD"]
    assert balances[0].available == D(changes + 1)


def test_postgresql_probes_the_indexes(db):
    """EXPLAIN: the currencies come from the partial index of creations, each balance from
    one probe of (service, currency, created_at, id) — no scan of the history.  The table is
    filled and analysed first, as in production: on a handful of rows any index will do."""
    services = [ServiceFactory() for _ in range(3)]
    rows = []
    for service in services:
        for code in ("EUR", "USD", "JPY", "GBP", "CHF"):
            for step in range(200):
                rows.append(
                    BalanceChange(
                        service=service,
                        currency=code,
                        kind="created" if step == 0 else "updated",
                        actor_type="system",
                        actor_label="tests",
                        old_available=None if step == 0 else Decimal(step - 1),
                        new_available=Decimal(step),
                        new_pending=Decimal(0),
                        new_reserved=Decimal(0),
                        created_at=START + timedelta(minutes=step),
                    )
                )
    BalanceChange.objects.bulk_create(rows)
    moment = START + timedelta(minutes=150)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE balances_balancechange")
        cursor.execute("SET enable_seqscan = off")
        sql, params = changes_as_of(moment, service_ids=[services[1].pk]).query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "change_created_idx" in plan, plan
    assert "change_service_cur_idx" in plan, plan
    assert "Seq Scan on balances_balancechange" not in plan, plan


# --- SQLite, the embedded default ----------------------------------------------------------


@pytest.mark.django_db(databases=["default", "sqlite"])
def test_sqlite_answers_the_same(monkeypatch):
    """The same history, written and read on SQLite (the default connection swapped)."""
    clock = Clock(START)
    monkeypatch.setattr("django.utils.timezone.now", clock)
    saved = connections["default"]
    handler = connections._connections
    setattr(handler, "default", connections["sqlite"])
    try:
        assert connection.vendor == "sqlite"
        service = ServiceFactory()
        actor = Actor.system("tests")
        balance_create(service=service, currency="KWD", amount="1.125", actor=actor)
        first = clock.now
        grow_history_kwd(service, clock)
        states = [(first, {"KWD": D("1.125")})]
        for n, at in enumerate(sorted({c.created_at for c in BalanceChange.objects.all()})[1:]):
            states.append((at, {"KWD": D(n + 2) + D("0.125")}))
        for at, expected in states:
            got = {b.currency: b.available for b in balances_as_of(service, at)}
            assert got == expected
        assert balances_as_of(service, first - timedelta(microseconds=1)) == []
    finally:
        setattr(handler, "default", saved)


def grow_history_kwd(service, clock: Clock) -> None:
    actor = Actor.system("tests")
    for n in range(5):
        clock.advance(seconds=1)
        balance_update(
            service=service,
            currency="KWD",
            amount=D(n + 2) + D("0.125"),
            expected_version=None,
            actor=actor,
            reason="growth",
        )
