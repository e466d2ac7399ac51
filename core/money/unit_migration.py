"""The migration of amount columns from ``DecimalField(28, 8)`` to ``AmountField`` (a bigint
of 10^-8 units), shared by the apps that own amounts.  Used by migrations: keep it stable.

One operation per model, :class:`AmountsToUnits`, converts all its amount columns at once and
keeps every value exactly:

* PostgreSQL: one ``ALTER TABLE … ALTER COLUMN … TYPE bigint USING round(col * 10^8)::bigint``
  per table (exact: a ``numeric(28, 8)`` times 10^8 is an integer).  The check constraints
  that name the columns are carried over by PostgreSQL, reparsed for the new type.
* SQLite (and any other database): the values are read and converted in Python ``Decimal``
  from what SQLite kept (an INTEGER, or a REAL that Django read back with 15 significant
  digits), the table is rebuilt once with every amount column as a bigint (Django's table
  remake, constraints included), and the converted values are written back.

A value storage cannot keep (beyond ±92233720368.54775807, which the old columns accepted)
stops the migration with the rows named, before anything is changed: nothing is clamped or
rounded.  The operation is reversible (units back to ``numeric(28, 8)``, exactly).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Context, Decimal
from typing import Any

from django.db import models
from django.db.migrations.operations.base import Operation

from core.money import currencies
from core.money.dbfields import AmountField, AmountNotStorable, from_units, to_units

SCALE = 10**currencies.STORAGE_DECIMAL_PLACES
# What Django's SQLite backend read a REAL amount back with.
_SQLITE_READ = Context(prec=15)
_BATCH = 2000


class AmountsBeyondStorage(RuntimeError):
    """Rows hold amounts that the integer storage cannot keep; the message names them."""


def _decimal_from_sqlite(value: object) -> Decimal:
    if isinstance(value, float):
        return _SQLITE_READ.create_decimal_from_float(value)
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(str(value))


def _refuse(table: str, bad: list[str]) -> None:
    if bad:
        shown = "; ".join(bad[:20]) + ("; …" if len(bad) > 20 else "")
        raise AmountsBeyondStorage(
            f"{table}: amounts beyond what storage keeps "
            f"(±{currencies.MAX_ABS_AMOUNT}): {shown}.  Nothing was changed; correct these "
            "rows (they were accepted before amounts were bounded) and migrate again."
        )


class AmountsToUnits(Operation):
    """Turn ``fields`` of ``model_name`` (name -> (the decimal field as the migration state
    has it, the ``AmountField`` the model declares)) into integer units, keeping the values."""

    reversible = True
    reduces_to_sql = False

    def __init__(
        self, model_name: str, fields: Mapping[str, tuple[models.Field, AmountField]]
    ) -> None:
        self.model_name = model_name
        self.fields = dict(fields)

    def describe(self) -> str:
        return f"Store the amounts of {self.model_name} as integer units of 10^-8"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name.lower()}_amounts_in_units"

    def state_forwards(self, app_label: str, state) -> None:
        for name, (_decimal, amount) in self.fields.items():
            state.alter_field(app_label, self.model_name.lower(), name, amount, True)

    def state_backwards(self, app_label: str, state) -> None:
        for name, (decimal, _amount) in self.fields.items():
            state.alter_field(app_label, self.model_name.lower(), name, decimal, True)

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        source = from_state.apps.get_model(app_label, self.model_name)
        target = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, target):
            self._convert(schema_editor, source, target, forward=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        source = from_state.apps.get_model(app_label, self.model_name)
        target = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, target):
            self._convert(schema_editor, source, target, forward=False)

    # --- the conversion ------------------------------------------------------------------

    def _convert(self, schema_editor, source, target, *, forward: bool) -> None:
        if schema_editor.connection.vendor == "postgresql":
            self._convert_in_place(schema_editor, target, forward=forward)
        else:
            self._convert_by_rebuild(schema_editor, source, target, forward=forward)

    def _convert_in_place(self, schema_editor, target, *, forward: bool) -> None:
        connection = schema_editor.connection
        qn = schema_editor.quote_name
        table = qn(target._meta.db_table)
        columns = [target._meta.get_field(name) for name in self.fields]
        if forward:
            beyond = " OR ".join(f"abs({qn(f.column)}) > %s" for f in columns)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {qn(target._meta.pk.column)}, "  # noqa: S608 - names are ours
                    f"{', '.join(qn(f.column) for f in columns)} FROM {table} "
                    f"WHERE {beyond} ORDER BY 1 LIMIT 21",
                    [currencies.MAX_ABS_AMOUNT] * len(columns),
                )
                rows = cursor.fetchall()
            _refuse(
                target._meta.db_table,
                [
                    f"row {row[0]} {f.column}={value}"
                    for row in rows
                    for f, value in zip(columns, row[1:], strict=True)
                    if value is not None and abs(value) > currencies.MAX_ABS_AMOUNT
                ],
            )
        changes = []
        for f in columns:
            column = qn(f.column)
            using = (
                f"round({column} * {SCALE})::bigint" if forward else f"{column}::numeric / {SCALE}"
            )
            changes.append(f"ALTER COLUMN {column} TYPE {f.db_type(connection)} USING {using}")
        schema_editor.execute(f"ALTER TABLE {table} {', '.join(changes)}")

    def _convert_by_rebuild(self, schema_editor, source, target, *, forward: bool) -> None:
        qn = schema_editor.quote_name
        table = qn(source._meta.db_table)
        pk = qn(source._meta.pk.column)
        columns = [source._meta.get_field(name).column for name in self.fields]
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {pk}, {', '.join(qn(c) for c in columns)} FROM {table} ORDER BY {pk}"  # noqa: S608 - names are ours
            )
            rows = cursor.fetchall()
        updates: list[list[Any]] = []
        bad: list[str] = []
        for row in rows:
            values: list[Any] = []
            for column, raw in zip(columns, row[1:], strict=True):
                if raw is None:
                    values.append(None)
                elif forward:
                    amount = _decimal_from_sqlite(raw)
                    try:
                        values.append(to_units(amount))
                    except AmountNotStorable:
                        bad.append(f"row {row[0]} {column}={amount}")
                        values.append(None)
                else:
                    values.append(str(from_units(int(raw))))
            updates.append([*values, row[0]])
        _refuse(source._meta.db_table, bad)
        names = list(self.fields)
        # SQLite alters a column by rebuilding the table as the model given describes it:
        # given the target model, one rebuild turns every amount column at once.  Databases
        # that alter in place take each column.
        for name in names[:1] if schema_editor.connection.vendor == "sqlite" else names:
            schema_editor.alter_field(
                target, source._meta.get_field(name), target._meta.get_field(name)
            )
        sets = ", ".join(f"{qn(c)} = %s" for c in columns)
        sql = f"UPDATE {table} SET {sets} WHERE {pk} = %s"  # noqa: S608 - names are ours
        with schema_editor.connection.cursor() as cursor:
            for start in range(0, len(updates), _BATCH):
                cursor.executemany(sql, updates[start : start + _BATCH])
