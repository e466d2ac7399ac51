"""Payout amounts become exact integers of 10^-8 units (core/money/dbfields.py), on SQLite as
on PostgreSQL; values and constraints are kept (core/money/unit_migration.py).

``run_before`` balances 0003: 0003 here filled ``Balance.held`` from decimal columns, which
balances 0003 converts; the lower app must not name this one, so this one names it."""

from decimal import Decimal

from django.db import migrations, models

import core.money.dbfields
from core.money.unit_migration import AmountsToUnits


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0003_balance_held_from_open_payouts"),
    ]
    run_before = [
        ("balances", "0003_amounts_in_units"),
    ]

    operations = [
        AmountsToUnits(
            "payout",
            {
                "amount": (
                    models.DecimalField(decimal_places=8, max_digits=28),
                    core.money.dbfields.AmountField(),
                ),
                "fee": (
                    models.DecimalField(decimal_places=8, default=Decimal("0"), max_digits=28),
                    core.money.dbfields.AmountField(default=Decimal("0")),
                ),
            },
        ),
    ]
