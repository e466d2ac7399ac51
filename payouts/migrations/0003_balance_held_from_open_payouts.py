"""Fill ``Balance.held`` (added by balances 0002) with what open payouts hold today.

It lives in payouts because it reads both models and balances must not know payouts.  From
now on the payout actions keep the column up to date; this computes its starting value:
amount + fee of the pending and processing payouts, per service and currency.  Open payouts
without a balance row (impossible since creation needs the balance and its deletion is
refused while payouts hold funds on it) have nothing to hold on.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import migrations
from django.db.models import F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

# Payout.OPEN as it is when this migration is written: migrations do not import app code.
OPEN_STATUSES = ["pending", "processing"]


def fill_holds(apps, schema_editor) -> None:
    Balance = apps.get_model("balances", "Balance")
    Payout = apps.get_model("payouts", "Payout")
    amount = Balance._meta.get_field("held")
    held = (
        Payout.objects.filter(
            service_id=OuterRef("service_id"),
            currency=OuterRef("currency"),
            status__in=OPEN_STATUSES,
        )
        .order_by()
        .values("service_id", "currency")
        .annotate(total=Sum(F("amount") + F("fee")))
        .values("total")
    )
    # One UPDATE of every balance (a balance without open payouts gets 0).
    Balance.objects.using(schema_editor.connection.alias).update(
        # The column's own field: a decimal here, integer units once payouts 0004 and
        # balances 0003 ran (SQL then sums units, which is as exact).
        held=Coalesce(Subquery(held, output_field=amount), Value(Decimal(0)), output_field=amount)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0002_payout_ended_at_matches_status"),
        ("balances", "0002_balance_held"),
    ]

    operations = [
        # Going back drops the column (balances 0002), so there is nothing to undo here.
        migrations.RunPython(fill_holds, migrations.RunPython.noop, elidable=False),
    ]
