"""Several writes in one SQL statement, built by the ORM (PostgreSQL's data-modifying ``WITH``).

A statement is a round trip and the database's parse and plan: on hot paths (a fleet sync
runs thousands of times an interval) writes that always go together are sent together.  The
SQL of each part is the ORM's own (its parameters prepared by the fields: money as storage
units, JSON adapted), so nothing here interpolates a value.  On other databases the parts run
one after the other, with the same effect inside the caller's transaction.

* :func:`update_all`: several ``UPDATE``s as one statement;
* :func:`claim`: an ``UPDATE`` that returns the rows it changed through an ORM queryset
  (``select_related`` and annotations included), instead of an update and then a select.

And, for statements that run once per service sync (thousands an interval), where building
them with the ORM costs more CPU than the database spends running them, the same written by
hand: :func:`update_rows` (updates by primary key, one statement on PostgreSQL),
:func:`insert_rows` (one multi-row ``INSERT`` of model instances); rows read by hand come
back as model instances through :func:`core.rawsql.loaded`.  Their SQL is built once per
model and set of columns (identifiers from ``Model._meta``, quoted by the backend) and
cached; every value is a parameter, prepared by its field as the ORM would (amounts as
storage units, JSON adapted).  Portable: PostgreSQL and SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connections, models
from django.db.models import Field, Model, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.sql import Query, UpdateQuery

Update = tuple[QuerySet[Any], Mapping[str, Any]]


def _update_sql(queryset: QuerySet[Any], values: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    query = queryset.query.chain(UpdateQuery)
    assert isinstance(query, UpdateQuery)
    query.add_update_values(dict(values))
    query.annotations = {}
    compiler = query.get_compiler(queryset.db)
    compiler.pre_sql_setup()  # what QuerySet.update does before as_sql (no query here)
    sql, params = compiler.as_sql()
    return sql, tuple(params)


def update_all(updates: Sequence[Update], *, using: str = "default") -> None:
    """Run ``queryset.update(**values)`` for each pair, as one statement on PostgreSQL.

    Each part filters on its own table only (no join in the ``WHERE``): the data-modifying
    parts of one statement see the same snapshot and must not depend on each other.
    """
    if not updates:
        return
    if connections[using].vendor != "postgresql" or len(updates) == 1:
        for queryset, values in updates:
            queryset.update(**values)
        return
    parts = [_update_sql(qs, values) for qs, values in updates]
    *first, (last_sql, last_params) = parts
    with_sql = ", ".join(f"u{n} AS ({sql})" for n, (sql, _params) in enumerate(first))
    params = [p for _sql, part in first for p in part]
    with connections[using].cursor() as cursor:
        cursor.execute(f"WITH {with_sql} {last_sql}", [*params, *last_params])


class _ClaimQuery(Query):
    """A query whose SQL is preceded by ``WITH claimed AS (<update> RETURNING ...)``."""

    claim_sql: str = ""
    claim_params: tuple[Any, ...] = ()

    def get_compiler(
        self, using: Any = None, connection: Any = None, elide_empty: bool = True
    ) -> Any:
        compiler = super().get_compiler(using, connection, elide_empty)
        as_sql = compiler.as_sql
        prefix, prefix_params = self.claim_sql, self.claim_params

        def claimed_as_sql(*args: Any, **kwargs: Any) -> tuple[str, tuple[Any, ...]]:
            sql, params = as_sql(*args, **kwargs)
            return f"WITH claimed AS ({prefix}) {sql}", (*prefix_params, *params)

        compiler.as_sql = claimed_as_sql
        return compiler


def claim(
    queryset: QuerySet[Any],
    values: Mapping[str, Any],
    read: QuerySet[Any],
    *,
    returning: Sequence[str] = (),
) -> list[Any]:
    """Update the rows of ``queryset`` with ``values`` and return them as ``read`` (the same
    model, with its ``select_related`` and annotations) loads them: one statement on
    PostgreSQL.

    There ``read`` sees the rows as they were before the update (one statement, one
    snapshot), except the fields named in ``returning``, taken from what the update wrote
    (give every field of ``values`` the caller reads afterwards).  Other databases update,
    then read the updated rows.
    """
    if connections[queryset.db].vendor != "postgresql":
        ids = list(queryset.values_list("pk", flat=True))
        if not ids or not queryset.filter(pk__in=ids).update(**values):
            return []
        return list(read.filter(pk__in=ids))
    meta = queryset.model._meta
    quote = connections[queryset.db].ops.quote_name
    pk = quote(meta.pk.column)
    columns = {name: quote(meta.get_field(name).column) for name in returning}
    sql, params = _update_sql(queryset, values)
    # Only the model's own quoted table and column names are interpolated; no value is.
    table = quote(meta.db_table)
    chained = read.filter(pk__in=RawSQL(f"SELECT {pk} FROM claimed", ()))  # noqa: S611, S608
    chained = chained.annotate(
        **{
            f"_claimed_{name}": RawSQL(  # noqa: S611
                f"SELECT c.{column} FROM claimed c WHERE c.{pk} = {table}.{pk}",  # noqa: S608
                (),
                output_field=meta.get_field(name),
            )
            for name, column in columns.items()
        }
    )
    chained.query.__class__ = _ClaimQuery
    assert isinstance(chained.query, _ClaimQuery)
    returned = ", ".join([pk, *columns.values()])
    chained.query.claim_sql = f"{sql} RETURNING {returned}"
    chained.query.claim_params = params
    rows = list(chained)
    for row in rows:
        for name in columns:
            setattr(row, name, getattr(row, f"_claimed_{name}"))
    return rows


# --- Written by hand ------------------------------------------------------------------------

RowUpdate = tuple[type[Model], int | Sequence[int], Mapping[str, Any]]


@cache
def _update_by_pk(
    model: type[Model], names: tuple[str, ...], count: int, using: str, vendor: str
) -> tuple[str, tuple[Field, ...]]:
    connection = connections[using]
    quote = connection.ops.quote_name
    meta = model._meta
    fields = tuple(meta.get_field(name) for name in names)
    sets = ", ".join(f"{quote(str(f.column))} = %s" for f in fields)  # type: ignore[union-attr]
    marks = ", ".join(["%s"] * count)
    # Only the model's own quoted table and column names are interpolated; no value is.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {sets} "  # noqa: S608
        f"WHERE {quote(str(meta.pk.column))} IN ({marks})"
    )
    return sql, fields  # type: ignore[return-value]


def update_rows(updates: Iterable[RowUpdate], *, using: str = "default") -> None:
    """For each ``(model, pk or pks, values)``: what ``model.objects.filter(pk__in=pks)
    .update(**values)`` does (plain values only, no expressions), as one statement on
    PostgreSQL (``WITH u0 AS (UPDATE …), … UPDATE …``).  Parts with no pk are left out.

    As with :func:`update_all`, each part filters on its own table only: the parts of one
    statement see the same snapshot and must not depend on each other.
    """
    connection = connections[using]
    parts: list[tuple[str, list[Any]]] = []
    for model, pks, values in updates:
        ids = [pks] if isinstance(pks, int) else list(pks)
        if not ids:
            continue
        sql, fields = _update_by_pk(model, tuple(values), len(ids), using, connection.vendor)
        params = [_prepare(f, values[f.name], connection) for f in fields]
        parts.append((sql, [*params, *ids]))
    if not parts:
        return
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            for sql, params in parts:
                cursor.execute(sql, params)
            return
        *first, (last_sql, last_params) = parts
        prefix = "".join(
            f"{'WITH' if n == 0 else ','} u{n} AS ({sql}) " for n, (sql, _p) in enumerate(first)
        )
        cursor.execute(
            prefix + last_sql, [p for _sql, params in first for p in params] + last_params
        )


# Fields whose ``get_db_prep_save`` hands a value of the given exact type to the driver
# unchanged (Django's own classes only, not subclasses): those values skip the call.  Anything
# else (amounts, JSON, choices members, datetimes on SQLite...) goes through the field.
_AS_IS: dict[type[Field], tuple[type, ...]] = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.IntegerField: (int,),
    models.PositiveIntegerField: (int,),
    models.BigIntegerField: (int,),
    models.BooleanField: (bool,),
}


@cache
def _as_is(field: Field, vendor: str) -> tuple[type, ...]:
    """The exact value types ``field`` stores as they are on ``vendor``."""
    if type(field) is models.ForeignKey:
        target = field.target_field
        if type(target) in (models.AutoField, models.BigAutoField):
            return (int,)
        return ()
    if type(field) is models.DateTimeField and vendor == "postgresql":
        return (datetime,)  # psycopg adapts it; Django's check of naive values is kept below
    return _AS_IS.get(type(field), ())


def _prepare(field: Field, value: Any, connection: Any) -> Any:
    if value is None:
        return None
    kind = type(value)
    if kind in _as_is(field, connection.vendor) and (kind is not datetime or value.tzinfo):
        return value
    return field.get_db_prep_save(value, connection=connection)


@cache
def _insert_fields(model: type[Model]) -> tuple[Field, ...]:
    """The concrete fields an insert writes: all but an auto-incremented primary key."""
    meta = model._meta
    return tuple(
        f for f in meta.concrete_fields if not (f.primary_key and getattr(f, "db_returning", False))
    )


@cache
def _insert_sql(model: type[Model], count: int, using: str, vendor: str) -> str:
    quote = connections[using].ops.quote_name
    fields = _insert_fields(model)
    names = ", ".join(quote(str(f.column)) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Identifiers only, from the model; the values are parameters.
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({names}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)}"
    )


def insert_rows(objs: Sequence[Model], *, using: str = "default") -> None:
    """Insert ``objs`` (new instances of one model, every field already set: no defaults are
    computed, no ``pre_save`` runs, so no ``auto_now``) in one statement, as ``bulk_create``
    would store them, without reading their ids back.  No signals are sent."""
    if not objs:
        return
    connection = connections[using]
    model = type(objs[0])
    fields = _insert_fields(model)
    # As bulk_create does: within the database's limit of parameters per statement (SQLite).
    size = max(1, connection.ops.bulk_batch_size(fields, objs))
    with connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            chunk = objs[start : start + size]
            params = [
                _prepare(f, getattr(obj, f.attname), connection) for obj in chunk for f in fields
            ]
            cursor.execute(_insert_sql(model, len(chunk), using, connection.vendor), params)
