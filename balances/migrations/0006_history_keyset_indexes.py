"""History newest first with ties settled by id, per balance and per service: keyset pages
of any depth are one index range scan."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("balances", "0005_sync_reviews"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="balancechange",
            name="change_service_cur_idx",
        ),
        migrations.AddIndex(
            model_name="balancechange",
            index=models.Index(
                fields=["service", "currency", "-created_at", "-id"], name="change_service_cur_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="balancechange",
            index=models.Index(fields=["service", "-created_at", "-id"], name="change_service_idx"),
        ),
    ]
