"""Several writes in one SQL statement, built by the ORM (PostgreSQL's data-modifying ``WITH``).

A statement is a round trip and the database's parse and plan: on hot paths (a fleet sync
runs thousands of times an interval) writes that always go together are sent together.  The
SQL of each part is the ORM's own (its parameters prepared by the fields: money as storage
units, JSON adapted), so nothing here interpolates a value.  On other databases the parts run
one after the other, with the same effect inside the caller's transaction.

* :func:`update_all`: several ``UPDATE``s as one statement;
* :func:`claim`: an ``UPDATE`` that returns the rows it changed through an ORM queryset
  (``select_related`` and annotations included), instead of an update and then a select.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections
from django.db.models import QuerySet
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
