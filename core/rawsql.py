"""Hand-written statements for the few hot paths that run thousands of times a minute.

Building a statement with the ORM (query, compiler, expressions, model ``save()``) costs more
CPU than PostgreSQL takes to run a small insert or an indexed read: on the payout path that
was most of a request.  These helpers keep what matters of the ORM and drop the rest:

* the SQL is built once per model and set of columns (identifiers from ``Model._meta``,
  quoted by the backend; every value is a parameter), then cached;
* values go through each field's ``get_db_prep_save`` (amounts become storage units, JSON is
  adapted, datetimes made aware-correct), so what is stored is exactly what ``save()`` stores;
* values read back go through the fields' database converters, as a queryset's would
  (:func:`convert` for a dict of values, :func:`loaded` for a model instance made by
  ``Model.from_db``, so ``save()``, ``refresh_from_db()`` and deferred fields behave as
  usual): the API key, its user's permissions and the service of every API request are
  read that way, and so are a payout's reads.

They work on PostgreSQL and SQLite alike (``INSERT ... RETURNING`` needs SQLite 3.35).
No signals are sent: the models written here have no receivers, and callers pass every value
a default would have computed (ids, timestamps).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, TypeVar

import psycopg
from django.db import NotSupportedError, connections
from django.db.models import Field, Model, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute

M = TypeVar("M", bound=Model)

log = logging.getLogger(__name__)


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
    try:
        rows = _run_prepared(connection, sql, params)
    except NotSupportedError as exc:
        if not stale_plan(exc) or not connection.get_autocommit():
            # In a transaction the statement aborted it: its rollback (Django's atomic)
            # makes psycopg forget every prepared statement, and the next try prepares anew.
            raise
        # A migration changed a column this statement returns (a type, a length): PostgreSQL
        # refuses the old plan before running anything, and keeps refusing it on this
        # connection.  Outside a transaction nothing was written: run it once more on a
        # new connection.
        _forget_prepared(connection)
        rows = _run_prepared(connection, sql, params)
    if connection.queries_logged:
        connection.queries_log.append(
            {"sql": f"{sql} -- {list(params)!r}", "time": f"{time.monotonic() - began:.3f}"}
        )
    return rows


def _run_prepared(connection: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return list(cursor.fetchall()) if cursor.description else []


def stale_plan(exc: NotSupportedError) -> bool:
    """Whether PostgreSQL refused a prepared statement because its result type changed
    (SQLSTATE 0A000, "cached plan must not change result type").  Inside a transaction
    :func:`fetch` lets it through: once the caller's transaction (or savepoint) has rolled
    back, psycopg has forgotten its prepared statements and the caller may try again."""
    cause = exc.__cause__
    if not isinstance(cause, psycopg.errors.FeatureNotSupported):
        return False
    # The function that raised it is never translated, unlike the message (lc_messages).
    return cause.diag.source_function == "RevalidateCachedQuery" or (
        "cached plan must not change result type" in str(cause)
    )


def _forget_prepared(connection: Any) -> None:
    """A new connection, which has no prepared statements.  (``DEALLOCATE ALL`` would keep
    the connection, but psycopg only notices that command the first time its text runs on a
    connection, and would then name statements the server no longer has.)"""
    log.warning("prepared statements refused after a schema change: reconnecting")
    connection.close()
    connection.ensure_connection()


@cache
def _insert_sql(model: type[Model], columns: tuple[str, ...], vendor: str) -> str:
    quote = connections["default"].ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(column) for column in columns)
    marks = ", ".join(["%s"] * len(columns))
    pk = quote(str(model._meta.pk.column))
    # Identifiers only, from the model; the values are parameters.
    return f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING {pk}"  # noqa: S608


@cache
def _fields(model: type[Model], attnames: tuple[str, ...] | None) -> tuple[Field, ...]:
    concrete = tuple(model._meta.concrete_fields)
    if attnames is None:
        return concrete
    by_attname = {field.attname: field for field in concrete}
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
    names = ", ".join(quote(str(field.column)) for field in fields)
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


def column(model: type[Model], name: str) -> str:
    """The column of ``model``'s field ``name`` (its ``column``), for hand-written SQL."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field) and field.column, name
    return field.column


def table(model: type[Model] | None) -> str:
    """``model``'s table, for hand-written SQL."""
    assert model is not None
    return model._meta.db_table


def columns(model: type[Model], attnames: Sequence[str] | None, *, alias: str) -> str:
    """``alias.column`` for each attname (every concrete field when None), quoted, for a
    SELECT list."""
    quote = connections["default"].ops.quote_name
    names = None if attnames is None else tuple(attnames)
    return ", ".join(f"{alias}.{quote(str(field.column))}" for field in _fields(model, names))


def select_list(model: type[Model], attnames: Sequence[str] | None = None, *, using: str) -> str:
    """``"table"."column", …`` for ``attnames`` of ``model`` (every concrete field when
    None), in that order: the part of a SELECT that :func:`loaded` reads back."""
    quote = connections[using].ops.quote_name
    name = quote(table(model))
    fields = _fields(model, None if attnames is None else tuple(attnames))
    return ", ".join(f"{name}.{quote(column(model, field.name))}" for field in fields)


def width(model: type[Model], attnames: Sequence[str] | None = None) -> int:
    """How many columns :func:`select_list` selects."""
    return len(_fields(model, None if attnames is None else tuple(attnames)))


@cache
def _converters(
    model: type[Model], attnames: tuple[str, ...] | None, using: str, vendor: str
) -> tuple[tuple[int, Any, tuple[Any, ...], bool], ...]:
    """Per column that needs converting: (index, Col, the field's converters, whether the
    backend has converters of its own).  The backend's are bound to one connection object
    (there is one per thread), so they are looked up again at each read, for the few
    columns that have any (none on PostgreSQL).  By vendor too: an alias may be pointed at
    another database (the tests run some code on SQLite as ``default``)."""
    connection = connections[using]
    found = []
    for index, field in enumerate(_fields(model, attnames)):
        # The table's own name as the alias gives the field's cached Col.
        col = field.get_col(model._meta.db_table)
        own = tuple(col.get_db_converters(connection))
        backend = bool(connection.ops.get_db_converters(col))
        if own or backend:
            found.append((index, col, own, backend))
    return tuple(found)


def _converted(
    model: type[Model], names: tuple[str, ...] | None, row: Sequence[Any], using: str
) -> list[Any]:
    connection = connections[using]
    values = list(row)
    for index, col, own, backend in _converters(model, names, using, connection.vendor):
        converters = own
        if backend:
            converters = (*connection.ops.get_db_converters(col), *own)
        value = values[index]
        for func in converters:
            value = func(value, col, connection)
        values[index] = value
    return values


def convert(
    model: type[Model], attnames: Sequence[str], row: Sequence[Any], *, using: str = "default"
) -> dict[str, Any]:
    """``row`` (values of ``model``'s columns ``attnames``, as the driver returned them) as
    Python values, each through its field's converters: what a queryset would have given."""
    names = tuple(attnames)
    return dict(zip(names, _converted(model, names, row, using), strict=True))


@cache
def _attnames(model: type[Model], attnames: tuple[str, ...] | None) -> list[str]:
    return [field.attname for field in _fields(model, attnames)]


def loaded(
    model: type[M],
    row: Sequence[Any],
    attnames: Sequence[str] | None = None,
    *,
    using: str = "default",
) -> M:
    """The instance of ``model`` whose columns ``attnames`` (every concrete field when None)
    the driver returned as ``row``, as a queryset would have built it: the fields not read
    are deferred (loaded on first access)."""
    names = None if attnames is None else tuple(attnames)
    values = _converted(model, names, row, using)
    plain = _plain_attnames(model) if names is None else None
    if plain is None or signals.pre_init.has_listeners(model):
        return model.from_db(using, _attnames(model, names), values)
    # A full row of a model whose fields are plain attributes (the usual descriptors, which
    # only read): what Model.__init__ ends with, without its per-field work (a sync loads
    # thousands of rows a minute this way).
    obj = model.__new__(model)
    obj._state = ModelState()
    obj._state.adding = False
    obj._state.db = using
    obj.__dict__.update(zip(plain, values, strict=True))
    if signals.post_init.has_listeners(model):
        signals.post_init.send(sender=model, instance=obj)
    return obj


@cache
def _plain_attnames(model: type[Model]) -> tuple[str, ...] | None:
    """The attnames of ``model``'s concrete fields when each is set as a plain attribute by
    ``Model.__init__`` (the usual descriptors, which only read); None otherwise."""
    plain = (DeferredAttribute, ForeignKeyDeferredAttribute)
    attnames = []
    for field in model._meta.concrete_fields:
        descriptor = model.__dict__.get(field.attname) or getattr(model, field.attname, None)
        if type(descriptor) not in plain:
            return None
        attnames.append(field.attname)
    return tuple(attnames)
