"""core.rawsql: hand-written statements store and read what the ORM would, and on
PostgreSQL run as prepared statements that still count as queries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balances.models import Balance
from core import rawsql
from services.models import AuditEntry
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = pytest.mark.django_db

SQL = 'SELECT "available", "held" FROM "balances_balance" WHERE "id" = %s'


def prepared_count(sql_fragment: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            [f"%{sql_fragment}%"],
        )
        return cursor.fetchone()[0]


def test_fetch_is_a_prepared_statement_counted_as_a_query():
    balance = BalanceFactory(available=Decimal("12.50"))
    with CaptureQueriesContext(connection) as captured:
        first = rawsql.fetch(SQL, [balance.pk])
        again = rawsql.fetch(SQL, [balance.pk])
    assert first == again == [(1_250_000_000, 0)]  # storage units, as stored
    assert len(captured.captured_queries) == 2
    assert captured.captured_queries[0]["sql"].startswith(SQL)
    assert prepared_count('FROM "balances_balance" WHERE "id" = $1') == 1


def test_without_prepared_statements_fetch_uses_the_ordinary_cursor(monkeypatch):
    """DATABASE_PREPARED_STATEMENTS=0 (a pooler that drops them): nothing is prepared."""
    balance = BalanceFactory(available=Decimal("3"))
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", None)
    sql = SQL + " AND 1 = 1"
    assert rawsql.fetch(sql, [balance.pk]) == [(300_000_000, 0)]
    assert prepared_count("AND 1 = 1") == 0


def test_insert_stores_what_the_orm_stores_and_convert_reads_it_back(operator):
    service = ServiceFactory()
    now = timezone.now()
    values = {
        "service_id": service.pk,
        "fee_profile_id": None,
        "subject": "payout po_x",
        "object_type": "payout",
        "object_id": "po_x",
        "action": "payout_created",
        "actor_label": "Ops",
        "actor_user_id": operator.pk,
        "via": "session",
        "reason": "",
        "changes": {"amount": "1.10", "nested": {"emoji": "\u20ac", "nul": "a\\u0000"}},
        "created_at": now,
    }
    pk = rawsql.insert(AuditEntry, values)
    stored = AuditEntry.objects.get(pk=pk)
    assert stored.changes == values["changes"]
    assert (stored.created_at, stored.actor_user, stored.service) == (now, operator, service)

    balance = BalanceFactory(service=service, available=Decimal("12345678901.12345678"))
    [row] = rawsql.fetch(
        'SELECT "available", "held", "watched", "updated_at" FROM "balances_balance" '
        'WHERE "id" = %s',
        [balance.pk],
    )
    read = rawsql.convert(Balance, ("available", "held", "watched", "updated_at"), row)
    assert read["available"] == Decimal("12345678901.12345678")
    assert read["held"] == 0 and read["watched"] is True
    assert read["updated_at"] == Balance.objects.get(pk=balance.pk).updated_at
