"""The system-wide audit log: its permission (admins), an index for its keyset pages, and
the object (type and id) of the entries written before audit entries named their object.

The object is inferred from the action and the subject, best effort:

* ``service_created``/``service_updated``: the service (its id is the subject);
  ``service_deleted``: the id in the subject's trailing parentheses ("Name (srv_…)");
* ``fee_profile_*`` and ``service_assigned``/``service_unassigned``: the fee profile (its
  primary key, while the profile still exists);
* ``fee_rule_*``: a fee rule (which one was not recorded: the id stays empty; the entry
  keeps its fee profile);
* ``provider_*``: the service's provider connection, named by the service id (the subject);
* ``alert_rule_*``: the alert rule whose id follows "alert rule " in the subject.

Other entries keep an empty object.  Reversing leaves the filled values (harmless).
"""

import re

from django.conf import settings
from django.db import migrations, models

from core.roles import sync_role_groups

_TRAILING_ID = re.compile(r"\((srv_[A-Za-z0-9_]+)\)\s*$")


def object_of(action: str, subject: str, fee_profile_id: int | None) -> tuple[str, str]:
    if action in ("service_created", "service_updated"):
        return "service", subject
    if action == "service_deleted":
        match = _TRAILING_ID.search(subject)
        return "service", match.group(1) if match else ""
    if action.startswith("fee_profile_") or action in ("service_assigned", "service_unassigned"):
        return "fee_profile", str(fee_profile_id or "")
    if action.startswith("fee_rule_"):
        return "fee_rule", ""
    if action.startswith("provider_"):
        return "connection", subject
    if action.startswith("alert_rule_"):
        return "alert_rule", subject.removeprefix("alert rule ").strip()
    return "", ""


def fill_objects(apps, schema_editor):
    entry_model = apps.get_model("services", "AuditEntry")
    db = schema_editor.connection.alias
    batch = []
    pending = (
        entry_model.objects.using(db)
        .filter(object_type="")
        .only("id", "action", "subject", "fee_profile_id")
    )
    for entry in pending.iterator(chunk_size=1000):
        object_type, object_id = object_of(entry.action, entry.subject, entry.fee_profile_id)
        if object_type:
            entry.object_type, entry.object_id = object_type, object_id[:64]
            batch.append(entry)
        if len(batch) >= 1000:
            entry_model.objects.using(db).bulk_update(batch, ["object_type", "object_id"])
            batch = []
    if batch:
        entry_model.objects.using(db).bulk_update(batch, ["object_type", "object_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("services", "0007_audit_objects"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="auditentry",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [("view_audit_log", "Can view the audit log of the whole system")],
                "verbose_name_plural": "audit entries",
            },
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["-created_at", "-id"], name="audit_created_idx"),
        ),
        migrations.RunPython(fill_objects, migrations.RunPython.noop),
        # Admins get the new permission.
        migrations.RunPython(sync_role_groups, migrations.RunPython.noop),
    ]
