"""The statements the sync writes by hand (core/sqlcombine.py): the same rows as the ORM's
update, bulk_create and queryset would give, on PostgreSQL and on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from balances.models import Balance, BalanceChange, SyncRun
from core import rawsql, sqlcombine
from services.models import ProviderConnection, Service

D = Decimal
ALIASES = ["default", "sqlite"]
pytestmark = pytest.mark.django_db(databases=ALIASES)
WHEN = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)


@pytest.fixture(params=ALIASES)
def alias(request):
    return request.param


def world(alias):
    service = Service.objects.using(alias).create(name="Hand-written", country="NG")
    balances = [
        Balance.objects.using(alias).create(
            service=service, currency=code, available=D("12345678901.12345678")
        )
        for code in ("EUR", "USD", "USDT_TRC20")
    ]
    run = SyncRun.objects.using(alias).create(
        service=service, provider_kind="syncpay", trigger="command"
    )
    connection = ProviderConnection.objects.using(alias).create(
        service=service, kind="syncpay", consecutive_failures=3
    )
    return service, balances, run, connection


def test_update_rows_writes_what_the_orm_update_writes(alias):
    _service, balances, run, connection = world(alias)
    result = {"counts": {"updated": 1}, "amount": "0.00000001", "nested": [1, "two", None]}

    with CaptureQueriesContext(connections[alias]) as ctx:
        sqlcombine.update_rows(
            [
                (Balance, [balances[0].pk, balances[2].pk], {"last_synced_at": WHEN}),
                (Balance, [], {"last_synced_at": WHEN}),  # nothing to update: left out
                (SyncRun, run.pk, {"status": "succeeded", "result": result, "finished_at": WHEN}),
                (
                    ProviderConnection,
                    connection.pk,
                    {"consecutive_failures": 0, "paused_at": None, "last_success_at": WHEN},
                ),
            ],
            using=alias,
        )

    statements = [q["sql"] for q in ctx.captured_queries]
    if alias == "default":  # one statement on PostgreSQL
        assert len(statements) == 1 and statements[0].startswith("WITH u0 AS (UPDATE")
    else:
        assert len(statements) == 3
    stamped = dict(Balance.objects.using(alias).values_list("currency", "last_synced_at"))
    assert stamped == {"EUR": WHEN, "USD": None, "USDT_TRC20": WHEN}
    run.refresh_from_db(using=alias)
    assert (run.status, run.result, run.finished_at) == ("succeeded", result, WHEN)
    connection.refresh_from_db(using=alias)
    assert (connection.consecutive_failures, connection.last_success_at) == (0, WHEN)


def test_update_rows_stores_amounts_as_the_orm_does(alias):
    _service, balances, _run, _connection = world(alias)
    sqlcombine.update_rows(
        [(Balance, balances[1].pk, {"available": D("-0.00000001"), "reserved": D("7")})],
        using=alias,
    )
    fresh = Balance.objects.using(alias).get(pk=balances[1].pk)
    assert (fresh.available, fresh.reserved) == (D("-0.00000001"), D("7"))
    Balance.objects.using(alias).filter(pk=balances[2].pk).update(available=D("-0.00000001"))
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT available FROM balances_balance WHERE id IN (%s, %s)",
            [balances[1].pk, balances[2].pk],
        )
        assert [row[0] for row in cursor.fetchall()] == [-1, -1]  # storage units, both ways


def test_insert_rows_stores_what_bulk_create_stores(alias):
    service, balances, run, _connection = world(alias)

    def change(n):
        return BalanceChange(
            service_id=service.pk,
            balance_id=balances[n % 3].pk,
            currency=balances[n % 3].currency,
            kind="synced",
            actor_type="sync",
            actor_label="sync:syncpay",
            sync_run_id=run.pk,
            old_available=D("12345678901.12345678"),
            new_available=D(n) / 100,
            version=n + 2,
            reason=f"line {n}",
            created_at=WHEN,
        )

    sqlcombine.insert_rows([change(n) for n in range(5)], using=alias)
    BalanceChange.objects.using(alias).bulk_create([change(n) for n in range(5)])

    rows = list(
        BalanceChange.objects.using(alias)
        .order_by("id")
        .values(*[f.attname for f in BalanceChange._meta.concrete_fields if f.name != "id"])
    )
    assert len(rows) == 10
    assert rows[:5] == rows[5:]
    assert rows[3]["new_available"] == D("0.03") and rows[3]["old_pending"] is None


def test_rows_read_by_hand_load_what_a_queryset_loads(alias):
    _service, balances, run, connection = world(alias)
    Balance.objects.using(alias).filter(pk=balances[0].pk).update(last_synced_at=WHEN)
    quote = connections[alias].ops.quote_name
    for model, pk in ((Balance, balances[0].pk), (SyncRun, run.pk), (ProviderConnection, connection.pk)):  # fmt: skip
        with connections[alias].cursor() as cursor:
            cursor.execute(
                f"SELECT {rawsql.columns(model, None, alias='x')} "
                f"FROM {quote(model._meta.db_table)} x WHERE x.id = %s",
                [pk],
            )
            loaded = rawsql.loaded(model, cursor.fetchone(), using=alias)
        expected = model.objects.using(alias).get(pk=pk)
        fields = [f.attname for f in model._meta.concrete_fields]
        assert [getattr(loaded, f) for f in fields] == [getattr(expected, f) for f in fields]
        assert loaded._state.adding is False and loaded._state.db == alias
