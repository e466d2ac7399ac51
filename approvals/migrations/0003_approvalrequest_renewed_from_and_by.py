import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """A renewal keeps who first asked (``requested_by``) and records who renewed it and
    which request it replaced, so that neither of them approves it.  The renewals made
    before are linked by 0004 (on its own: rows written in the transaction that adds the
    foreign key would keep PostgreSQL from creating its index)."""

    dependencies = [
        ("approvals", "0002_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="approvalrequest",
            name="renewed_from",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="approvalrequest",
            name="renewed_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="approvalrequest",
            name="renewed_by_label",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name="approvalrequest",
            name="renewed_via",
            field=models.CharField(blank=True, max_length=32),
        ),
    ]
