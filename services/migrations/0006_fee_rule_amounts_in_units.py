"""Fee rule amounts become exact integers of 10^-8 units (core/money/dbfields.py), on SQLite
as on PostgreSQL; values and constraints are kept (core/money/unit_migration.py)."""

from decimal import Decimal

from django.db import migrations, models

import core.money.dbfields
from core.money.unit_migration import AmountsToUnits


def _decimal(**kwargs):
    return models.DecimalField(decimal_places=8, max_digits=28, **kwargs)


class Migration(migrations.Migration):
    dependencies = [
        ("services", "0005_connection_kind_from_registry"),
    ]

    operations = [
        AmountsToUnits(
            "feerule",
            {
                "fixed_amount": (
                    _decimal(default=Decimal("0")),
                    core.money.dbfields.AmountField(default=Decimal("0")),
                ),
                "minimum_fee": (
                    _decimal(default=Decimal("0")),
                    core.money.dbfields.AmountField(default=Decimal("0")),
                ),
                "maximum_fee": (
                    _decimal(blank=True, null=True),
                    core.money.dbfields.AmountField(blank=True, null=True),
                ),
                "minimum_payout_amount": (
                    _decimal(blank=True, null=True),
                    core.money.dbfields.AmountField(blank=True, null=True),
                ),
            },
        ),
    ]
