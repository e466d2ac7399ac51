"""What payouts hold on their balance (``Balance.held``): every payout action moves it by
exactly the payout's amount + fee, creation's funds check reads only the locked balance row,
and the data migration computes the starting holds from the open payouts."""

from __future__ import annotations

import importlib
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from balances.models import Balance
from core.errors import NotAllowed, Unprocessable
from payouts import actions
from payouts.models import Payout
from tests.factories import BalanceFactory, ServiceFactory
from tests.payouts.conftest import held_on

D = Decimal
S = Payout.Status
PRICE = D("101.75")  # 100.00 EUR at 1.5 % + 0.25


def _balance(funded) -> Balance:
    return Balance.objects.get(pk=funded.pk)


# --- every action moves the hold exactly --------------------------------------------------


@pytest.mark.django_db
def test_creation_holds_amount_plus_fee(make_payout, funded):
    make_payout("100.00")
    assert _balance(funded).held == PRICE
    make_payout("50.00")  # 1.5 % of 50 = 0.75, + 0.25
    assert held_on(funded.service_id) == PRICE + D("51.00")


@pytest.mark.django_db
def test_a_refused_creation_holds_nothing(make_payout, funded):
    make_payout("900.00")  # + 10.00, the maximum fee: 910.00 held, 90.00 left
    with pytest.raises(Unprocessable):
        make_payout("100.00")
    assert held_on(funded.service_id) == D("910.00")


@pytest.mark.django_db
def test_an_idempotent_replay_holds_nothing_more(make_payout, funded, priced_service, system_actor):
    make_payout("100.00", idempotency_key="order-1")
    _, created = actions.payout_create(
        service=priced_service,
        currency="EUR",
        amount="100.00",
        destination="IBAN DE89 3704 0044 0532 0130 00",
        actor=system_actor,
        idempotency_key="order-1",
    )
    assert not created
    assert held_on(funded.service_id) == PRICE


@pytest.mark.django_db
def test_processing_keeps_the_hold(make_payout, funded, system_actor):
    payout = make_payout("100.00")
    actions.payout_process(payout=payout, actor=system_actor)
    assert held_on(funded.service_id) == PRICE
    assert _balance(funded).available == D("1000.00")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "available_after"),
    [
        ((S.PROCESSING, S.PAID), D("1000.00") - PRICE),
        ((S.FAILED,), D("1000.00")),
        ((S.CANCELED,), D("1000.00")),
        ((S.PROCESSING, S.FAILED), D("1000.00")),
        ((S.PROCESSING, S.CANCELED), D("1000.00")),
    ],
    ids=["paid", "pending-failed", "pending-canceled", "processing-failed", "processing-canceled"],
)
def test_ending_a_payout_releases_exactly_its_hold(
    make_payout, funded, system_actor, path, available_after
):
    other = make_payout("50.00")  # stays open: its 51.00 stays held
    payout = make_payout("100.00")
    assert held_on(funded.service_id) == PRICE + D("51.00")

    for status in path:
        payout = actions.payout_transition(payout=payout, to_status=status, actor=system_actor)

    after = _balance(funded)
    assert after.held == D("51.00") == other.total
    assert after.available == available_after
    assert after.available_for_payout == available_after - D("51.00")
    held_on(funded.service_id)  # still what the open payouts add up to


@pytest.mark.django_db
def test_a_refused_transition_moves_nothing(make_payout, funded, system_actor):
    payout = make_payout("100.00")
    actions.payout_cancel(payout=payout, actor=system_actor)
    with pytest.raises(NotAllowed):
        actions.payout_cancel(payout=payout, actor=system_actor)
    assert held_on(funded.service_id) == 0
    assert _balance(funded).available == D("1000.00")


@pytest.mark.django_db
def test_the_demo_data_holds_what_its_open_payouts_hold(settings, tmp_path):
    settings.DEMO_LOGIN_FILE = tmp_path / "demo-login.txt"
    call_command("demo_data", "--port", "8123", stdout=io.StringIO())

    assert Payout.objects.filter(status__in=Payout.OPEN).exists()
    assert Balance.objects.filter(held__gt=0).exists()
    for balance in Balance.objects.all():
        held_on(balance.service_id, balance.currency)


# --- the funds check reads one row ------------------------------------------------------


@pytest.mark.django_db
def test_the_funds_check_of_a_new_payout_reads_the_locked_balance_row_only(
    make_payout, priced_service, funded, system_actor, django_assert_num_queries
):
    for _ in range(5):  # open payouts on the balance: the check must not add them up
        make_payout("10.00")

    # 1 the service, whether a rule watches the balance, the currency's approval policy and
    # the fee rule (before the lock); 2 SAVEPOINT (the test's transaction around it); 3 ONE
    # statement: the hold (UPDATE ... RETURNING the row: the lock and the funds check on
    # the row, no sum of payouts), the payout and its timeline entry; 4 RELEASE SAVEPOINT.
    with django_assert_num_queries(4) as captured:
        actions.payout_create(
            service=priced_service,
            currency="EUR",
            amount="100.00",
            destination="acct",
            actor=system_actor,
        )

    sqls = [q["sql"] for q in captured.captured_queries]
    [one] = [sql for sql in sqls if sql.startswith("WITH")]
    assert one.startswith('WITH h AS (UPDATE "balances_balance"')
    assert "RETURNING" in one
    assert not [sql for sql in sqls if "FOR UPDATE" in sql]
    assert not [sql for sql in sqls if sql.startswith("SELECT") and '"payouts_payout"' in sql]
    assert not [sql for sql in sqls if "SUM(" in sql.upper()]


@pytest.mark.django_db
def test_releasing_a_hold_is_one_update(make_payout, system_actor, django_assert_num_queries):
    payout = make_payout("100.00")

    # 1 SAVEPOINT; 2 the payout, SELECT ... FOR UPDATE with its service; 3 UPDATE the
    # balance's held; 4 the balance as the UPDATE left it (for the BalanceChanged event; no
    # alert rule watches it, the row says so); 5 UPDATE the payout; 6 INSERT the timeline
    # entry; 7 RELEASE SAVEPOINT.
    with django_assert_num_queries(7) as captured:
        actions.payout_cancel(payout=payout, actor=system_actor)

    balance_sqls = [q["sql"] for q in captured.captured_queries if "balances_balance" in q["sql"]]
    # One write; the read after it is under the lock the UPDATE took.
    assert [sql.split()[0] for sql in balance_sqls] == ["UPDATE", "SELECT"]


# --- the data migration -----------------------------------------------------------------

BEFORE = [("balances", "0001_initial"), ("payouts", "0002_payout_ended_at_matches_status")]
AFTER = [("payouts", "0003_balance_held_from_open_payouts")]


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_holds_what_open_payouts_hold_per_service_and_currency():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        OldBalance = old.get_model("balances", "Balance")
        OldPayout = old.get_model("payouts", "Payout")
        first, second = ServiceFactory(), ServiceFactory()
        for service, currency in [
            (first, "EUR"),
            (first, "USD"),
            (first, "KWD"),
            (second, "EUR"),
        ]:
            OldBalance.objects.create(service_id=service.pk, currency=currency, available=D("1000"))
        ended = datetime(2026, 1, 1, tzinfo=UTC)

        def payout(service, currency, amount, fee="0", status="pending"):
            OldPayout.objects.create(
                service_id=service.pk,
                currency=currency,
                amount=D(amount),
                fee=D(fee),
                destination="d",
                status=status,
                ended_at=None if status in ("pending", "processing") else ended,
            )

        payout(first, "EUR", "100.00", "1.75")
        payout(first, "EUR", "50.00", "0.50", status="processing")
        payout(first, "EUR", "30.00", "1.00", status="paid")
        payout(first, "EUR", "20.00", status="failed")
        payout(first, "EUR", "10.00", status="canceled")
        payout(first, "KWD", "1.234", "0.001")
        payout(first, "KWD", "2.000", "0.001", status="processing")
        payout(second, "EUR", "5.00")
        payout(second, "GBP", "7.00")  # no GBP balance: nothing to hold on, no failure

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps
        held = {
            (b.service_id, b.currency): b.held
            for b in new.get_model("balances", "Balance").objects.all()
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert held == {
        (first.pk, "EUR"): D("152.25"),
        (first.pk, "USD"): D("0"),
        (first.pk, "KWD"): D("3.236"),
        (second.pk, "EUR"): D("5.00"),
    }
    # What the actions keep up to date from here on is what the migration computed.
    assert held_on(first.pk, "EUR") == D("152.25")
    assert held_on(first.pk, "KWD") == D("3.236")


@pytest.mark.django_db
def test_the_data_migration_recomputes_holds_that_drifted(make_payout, funded):
    """Run again on today's models (as ``RunPython`` would), it puts back what open payouts
    hold whatever the column said."""
    migration = importlib.import_module("payouts.migrations.0003_balance_held_from_open_payouts")
    make_payout("100.00")
    empty = BalanceFactory(service=funded.service, currency="USD")
    Balance.objects.filter(pk=funded.pk).update(held=D("1"))
    Balance.objects.filter(pk=empty.pk).update(held=D("2"))

    with connection.schema_editor() as editor:
        migration.fill_holds(apps, editor)

    assert held_on(funded.service_id) == PRICE
    assert _balance(empty).held == 0
