"""The one model field for amounts: exact on SQLite and PostgreSQL alike.

An amount is stored as a 64-bit integer of storage units, 10^-8 of the currency's unit (the
finest precision of any asset, ``currencies.STORAGE_DECIMAL_PLACES``), as Stripe, Finix and
TigerBeetle keep money.  SQLite's NUMERIC keeps only 15 significant digits (a USDT amount of
12345678901.12345678 came back as 12345678901.12350000); an INTEGER keeps all 19, and sums
and comparisons of integers are exact on both databases.

Python code sees ``Decimal`` with 8 places, as a ``DecimalField(28, 8)`` gave: filters
(``available__gte=Decimal("10.50")``), ``save()``, ``update(available=value)``,
``bulk_update`` and ``bulk_create(update_conflicts=...)`` convert on the way in, and rows,
``values()`` and ``Sum("available")`` on the way out.  A value that is not a whole number of
storage units, or beyond ±(2^63 - 1) units, is refused (``AmountNotStorable``), never rounded.

One rule to remember: next to an ``F()`` of an amount, a Python amount must say it is an amount
(``F("held") + amount_value(x)``), or it would be read as a number of storage units.  For the
same reason an expression that combines two amounts (``F("amount") + F("fee")``) needs
``output_field=AmountField()`` to come back as a ``Decimal`` rather than storage units.

Totals: ``Sum`` of an amount is exact on both databases, but SQLite sums integers in 64 bits
and raises "integer overflow" beyond; :class:`AmountSum` is exact past that on SQLite too
(PostgreSQL's ``SUM`` of a bigint is a numeric already).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core import exceptions, validators
from django.db import models
from django.db.models import Sum, Value
from django.db.models.expressions import Combinable

from core.money import currencies

PLACES = currencies.STORAGE_DECIMAL_PLACES
MAX_UNITS = currencies.MAX_STORAGE_UNITS
_QUANTUM = Decimal(1).scaleb(-PLACES)


class AmountNotStorable(currencies.AmountError):
    """An amount storage cannot keep exactly: too precise or too large."""


def _as_decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool | float):
        # A float has already lost the exact value; a bool is no amount.
        raise AmountNotStorable(f"An amount must be a Decimal, not {type(value).__name__}.")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise AmountNotStorable(f"{value[:40]!r} is not a number.") from None
    raise AmountNotStorable(f"An amount must be a Decimal, not {type(value).__name__}.")


def to_units(value: object) -> int:
    """``value`` (a Decimal, an int or a decimal string, in the currency's unit) as storage
    units, exactly: 12.5 -> 1250000000.  Refuses what is finer than 10^-8 or beyond
    ±(2^63 - 1) units; computed on the digits, so no decimal context can round it."""
    amount = _as_decimal(value)
    if not amount.is_finite():
        raise AmountNotStorable("An amount must be a finite number.")
    if not amount:
        return 0
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)
    # Checked before building the integer, so that 1E+999999 costs nothing.
    if amount.adjusted() + PLACES > len(str(MAX_UNITS)) - 1:
        raise AmountNotStorable(f"{amount} is too large to store.")
    shift = exponent + PLACES
    coefficient = "".join(map(str, digits))
    if shift >= 0:
        units = int(coefficient) * 10**shift
    else:
        kept, dropped = coefficient[:shift], coefficient[shift:]
        if dropped.strip("0"):
            raise AmountNotStorable(f"{amount} has more than {PLACES} decimal places.")
        units = int(kept or "0")
    if units > MAX_UNITS:
        raise AmountNotStorable(f"{amount} is too large to store.")
    return -units if sign else units


def from_units(units: int | Decimal | str) -> Decimal:
    """Storage units (an ``int``; the ``numeric`` PostgreSQL returns for ``SUM`` of a bigint;
    the digits SQLite's ``amount_sum`` returns past 64 bits) as the amount, with 8 places:
    1250000000 -> Decimal("12.50000000")."""
    value = units if isinstance(units, Decimal) else Decimal(int(units))
    amount = value.scaleb(-PLACES)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -PLACES:
        amount = amount.quantize(_QUANTUM)
    return amount


class AmountField(models.BigIntegerField):
    """An amount in a ``bigint`` column of 10^-8 units; a ``Decimal`` in Python."""

    description = "An exact amount (stored as a 64-bit integer of 10^-8 units)"
    # For django-stubs: a Decimal in Python, whatever the column holds.
    _pyi_private_set_type: Decimal | int | str | Combinable  # type: ignore[assignment]
    _pyi_private_get_type: Decimal  # type: ignore[assignment]

    def get_prep_value(self, value: Any) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return to_units(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        if value is None:
            return None
        return from_units(value)

    def to_python(self, value: Any) -> Decimal | None:
        if value is None or value == "":
            return None
        try:
            amount = _as_decimal(value)
            to_units(amount)  # storable, or say why not
        except currencies.AmountError as exc:
            raise exceptions.ValidationError(
                str(exc), code="invalid", params={"value": value}
            ) from None
        return amount

    @property
    def validators(self) -> list[Any]:
        # The storage bound in the currency's unit, not IntegerField's bound in storage units.
        return [
            *self.default_validators,
            *self._validators,  # type: ignore[attr-defined]
            validators.MinValueValidator(-currencies.MAX_ABS_AMOUNT),
            validators.MaxValueValidator(currencies.MAX_ABS_AMOUNT),
        ]

    def formfield(self, **kwargs: Any) -> Any:
        return super(models.IntegerField, self).formfield(
            **{
                "form_class": forms.DecimalField,
                "max_digits": len(str(MAX_UNITS)),
                "decimal_places": PLACES,
                **kwargs,
            }
        )


def amount_value(value: Decimal | int | str) -> Value:
    """A Python amount inside a database expression next to an amount column:
    ``F("held") + amount_value(x)`` adds x, where a bare ``x`` would add x storage units."""
    return Value(value, output_field=AmountField())


class AmountSum(Sum):
    """``Sum`` of amounts, exact whatever the total: on SQLite through ``amount_sum`` (below),
    which adds Python integers and returns digits past 64 bits, where SQLite's ``SUM`` would
    raise "integer overflow"."""

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="amount_sum", **extra_context)


class _ExactSum:
    """SQLite aggregate ``amount_sum(units)``: NULL for no values, like ``SUM``."""

    def __init__(self) -> None:
        self.total: int | None = None

    def step(self, value: int | None) -> None:
        if value is not None:
            self.total = (self.total or 0) + int(value)

    def finalize(self) -> int | str | None:
        if self.total is None or -(2**63) <= self.total < 2**63:
            return self.total
        return str(self.total)  # SQLite integers are 64-bit; the digits are exact


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver (core/apps.py): teach SQLite ``amount_sum``."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("amount_sum", 1, _ExactSum)
