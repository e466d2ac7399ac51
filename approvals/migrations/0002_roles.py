from django.db import migrations

from core.roles import sync_role_groups


class Migration(migrations.Migration):
    """The approver group, and the approval permissions of the other roles (admins approve
    too)."""

    dependencies = [
        ("approvals", "0001_approvals_and_policies"),
        ("payouts", "0005_payout_awaiting_approval"),
        ("alerts", "0002_roles"),
        ("webhooks", "0002_roles"),
    ]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
