"""Hand-written statements for the few hot paths that run thousands of times a minute.

Building a statement with the ORM (query, compiler, expressions, model ``save()``) costs more
CPU than PostgreSQL takes to run a small insert or an indexed read: on the payout path that
was most of a request.  These helpers keep what matters of the ORM and drop the rest:

* the SQL is built once per model and set of columns (identifiers from ``Model._meta``,
  quoted by the backend; every value is a parameter), then cached;
* values go through each field's ``get_db_prep_save`` (amounts become storage units, JSON is
  adapted, datetimes made aware-correct), so what is stored is exactly what ``save()`` stores;
* values read back go through the fields' database converters, as a queryset's would.

They work on PostgreSQL and SQLite alike (``INSERT ... RETURNING`` needs SQLite 3.35).
No signals are sent: the models written here have no receivers, and callers pass every value
a default would have computed (ids, timestamps).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import psycopg
from django.db import connections
from django.db.models import Field, Model

Converter = tuple[Field, tuple[Any, ...], Any]


def fetch(sql: str, params: Sequence[Any] = (), *, using: str = "default") -> list[tuple[Any, ...]]:
    """Run one hand-written statement and return its rows.  On PostgreSQL it is a prepared
    statement of the connection (psycopg prepares it and PostgreSQL keeps its plan): for
    these statements planning cost more database CPU than running them.  Parameters are
    bound by the server, typed by their Python values (``%s`` placeholders as usual).

    Django's cursor is bypassed only there (its client-side binding cannot prepare), so the
    statement is added to ``connection.queries`` here, as Django's debug cursor would, for
    the tests that count statements and for DEBUG.  Inside a transaction it belongs to it."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        connection.ensure_connection()
    if connection.vendor != "postgresql" or connection.connection.prepare_threshold is None:
        # SQLite; or prepared statements turned off (DATABASE_PREPARED_STATEMENTS=0)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
    connection.validate_no_broken_transaction()
    began = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        rows = list(cursor.fetchall()) if cursor.description else []
    if connection.queries_logged:
        connection.queries_log.append(
            {"sql": f"{sql} -- {list(params)!r}", "time": f"{time.monotonic() - began:.3f}"}
        )
    return rows


@cache
def _insert_sql(model: type[Model], columns: tuple[str, ...], vendor: str) -> str:
    quote = connections["default"].ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(column) for column in columns)
    marks = ", ".join(["%s"] * len(columns))
    pk = quote(model._meta.pk.column)
    # Identifiers only, from the model; the values are parameters.
    return f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING {pk}"  # noqa: S608


@cache
def _fields(model: type[Model], attnames: tuple[str, ...]) -> tuple[Field, ...]:
    by_attname = {field.attname: field for field in model._meta.concrete_fields}
    return tuple(by_attname[name] for name in attnames)


def insert(model: type[Model], values: Mapping[str, Any], *, using: str = "default") -> int:
    """Insert one row of ``model`` with ``values`` (by attname: ``service_id``, not
    ``service``) and return its primary key, in one statement."""
    connection = connections[using]
    attnames = tuple(values)
    fields = _fields(model, attnames)
    sql = _insert_sql(model, tuple(field.column for field in fields), connection.vendor)
    params = [
        field.get_db_prep_save(values[field.attname], connection=connection) for field in fields
    ]
    [row] = fetch(sql, params, using=using)
    return int(row[0])


def insert_parts(
    model: type[Model], values: Mapping[str, Any], *, using: str = "default"
) -> tuple[str, str, list[Any]]:
    """The parts of an INSERT of ``values`` into ``model`` for a statement of the caller's
    own (``INSERT INTO <table> (<columns>) SELECT <marks> FROM ...``): the quoted table, the
    quoted column list and the values as the fields prepare them (marks: one ``%s`` each)."""
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = _fields(model, tuple(values))
    names = ", ".join(quote(field.column) for field in fields)
    params = [
        field.get_db_prep_save(values[field.attname], connection=connection) for field in fields
    ]
    return quote(model._meta.db_table), names, params


def instance(model: type[Model], pk: int, values: Mapping[str, Any], *, using: str = "default"):
    """The model instance of a row just inserted with :func:`insert`, as ``save()`` would
    have left it (loaded from ``using``, not adding)."""
    obj = model(pk=pk, **values)
    obj._state.adding = False
    obj._state.db = using
    return obj


@cache
def _converters(model: type[Model], attnames: tuple[str, ...], vendor: str) -> tuple[Any, ...]:
    connection = connections["default"]
    found = []
    for field in _fields(model, attnames):
        column = field.get_col(model._meta.db_table)
        funcs = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        found.append((column, tuple(funcs)))
    return tuple(found)


def convert(
    model: type[Model], attnames: Sequence[str], row: Sequence[Any], *, using: str = "default"
) -> dict[str, Any]:
    """``row`` (values of ``model``'s columns ``attnames``, as the driver returned them) as
    Python values, each through its field's converters: what a queryset would have given."""
    connection = connections[using]
    names = tuple(attnames)
    out = {}
    for name, value, (column, funcs) in zip(
        names, row, _converters(model, names, connection.vendor), strict=True
    ):
        for func in funcs:
            value = func(value, column, connection)
        out[name] = value
    return out


def columns(model: type[Model], attnames: Sequence[str], *, alias: str) -> str:
    """``alias.column`` for each attname, quoted, for a SELECT list."""
    quote = connections["default"].ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in _fields(model, tuple(attnames)))
