"""Balance and history amounts become exact integers of 10^-8 units (core/money/dbfields.py),
on SQLite as on PostgreSQL; values and constraints are kept (core/money/unit_migration.py).

payouts 0004 runs before this one (its ``run_before``): payouts 0003 fills ``held`` from the
decimal columns, so it must find them as they were."""

from decimal import Decimal

from django.db import migrations, models

import core.money.dbfields
from core.money.unit_migration import AmountsToUnits


def _figures(*names):
    return {
        name: (
            models.DecimalField(decimal_places=8, default=Decimal("0"), max_digits=28),
            core.money.dbfields.AmountField(default=Decimal("0")),
        )
        for name in names
    }


def _history(*names):
    return {
        name: (
            models.DecimalField(blank=True, decimal_places=8, max_digits=28, null=True),
            core.money.dbfields.AmountField(blank=True, null=True),
        )
        for name in names
    }


class Migration(migrations.Migration):
    dependencies = [
        ("balances", "0002_balance_held"),
    ]

    operations = [
        AmountsToUnits("balance", _figures("available", "pending", "reserved", "held")),
        AmountsToUnits(
            "balancechange",
            _history(
                "old_available",
                "new_available",
                "old_pending",
                "new_pending",
                "old_reserved",
                "new_reserved",
            ),
        ),
    ]
