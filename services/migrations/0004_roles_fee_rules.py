from django.db import migrations

from core.roles import sync_role_groups


class Migration(migrations.Migration):
    """Give the roles the fee-rule permissions that exist now."""

    dependencies = [("services", "0003_fee_rules_api_keys")]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
