"""A process that outlives a migration.  PostgreSQL refuses a prepared statement whose result
type changed (a column's type or length: "cached plan must not change result type"), and
keeps refusing it on that connection.  Outside a transaction core.rawsql runs the statement
again on a new connection; inside one, the statement aborts the transaction, whose rollback
makes psycopg forget its statements, so only that attempt fails."""

from __future__ import annotations

import logging

import pytest
from django.db import DatabaseError, NotSupportedError, connection, transaction

from core import rawsql
from tests.db_helpers import elsewhere

pytestmark = pytest.mark.django_db(transaction=True)

SQL = "SELECT name FROM rawsql_scratch WHERE name = %s"


@pytest.fixture
def scratch():
    elsewhere(
        "CREATE TABLE rawsql_scratch (name varchar(10)); INSERT INTO rawsql_scratch VALUES ('a')"
    )
    yield
    connection.close()  # its prepared statements name the table
    elsewhere("DROP TABLE rawsql_scratch")


def test_outside_a_transaction_the_statement_runs_again_on_a_new_connection(scratch, caplog):
    assert rawsql.fetch(SQL, ["a"]) == [("a",)]
    before = connection.connection
    elsewhere("ALTER TABLE rawsql_scratch ALTER COLUMN name TYPE varchar(20)")

    with caplog.at_level(logging.WARNING, logger="core.rawsql"):
        assert rawsql.fetch(SQL, ["a"]) == [("a",)]
    assert "refused after a schema change" in caplog.text
    assert connection.connection is not before
    # Prepared again from the new schema: no further reconnection.
    after = connection.connection
    assert rawsql.fetch(SQL, ["a"]) == [("a",)]
    assert connection.connection is after


def test_inside_a_transaction_only_that_attempt_fails(scratch):
    assert rawsql.fetch(SQL, ["a"]) == [("a",)]
    elsewhere("ALTER TABLE rawsql_scratch ALTER COLUMN name TYPE varchar(20)")

    with (
        pytest.raises(NotSupportedError, match="cached plan must not change result type"),
        transaction.atomic(),
    ):
        rawsql.fetch(SQL, ["a"])
    with transaction.atomic():
        assert rawsql.fetch(SQL, ["a"]) == [("a",)]


def test_other_errors_are_not_run_again(scratch):
    assert rawsql.fetch(SQL, ["a"]) == [("a",)]
    before = connection.connection
    with pytest.raises(DatabaseError, match="division by zero"):
        rawsql.fetch("SELECT 1 / (count(*) - 1) FROM rawsql_scratch WHERE name = %s", ["a"])
    assert connection.connection is before


def test_the_refusal_is_recognised_in_any_language_of_the_server(scratch):
    """``lc_messages`` translates the message, never the function that raised it."""
    assert rawsql.fetch(SQL, ["a"]) == [("a",)]
    elsewhere("ALTER TABLE rawsql_scratch ALTER COLUMN name TYPE varchar(20)")
    with pytest.raises(NotSupportedError) as refused, transaction.atomic():
        rawsql.fetch(SQL, ["a"])
    cause = refused.value.__cause__
    assert cause.diag.source_function == "RevalidateCachedQuery"
    translated = NotSupportedError("le plan en cache ne doit pas modifier le type en résultat")
    translated.__cause__ = cause
    cause.args = ("le plan en cache ne doit pas modifier le type en résultat",)
    assert rawsql.stale_plan(translated)
