from django.db import migrations


def link_renewals(apps, schema_editor):
    """Renewals made before these fields: each was a new request *by the renewer*, linked
    only from the old one (``renewed_as``).  Make them what a renewal is from now on: linked
    back to the request it replaced, the renewer recorded as such, and the person who first
    asked as the requester of the whole chain (older requests first, so that a request's
    predecessor already names the chain's requester)."""
    ApprovalRequest = apps.get_model("approvals", "ApprovalRequest")
    by_id = {}
    for old in list(ApprovalRequest.objects.exclude(renewed_as="").order_by("id")):
        old = by_id.get(old.public_id, old)
        new = ApprovalRequest.objects.filter(public_id=old.renewed_as, renewed_from="").first()
        if new is None:
            continue
        new.renewed_from = old.public_id
        new.renewed_by_id = new.requested_by_id
        new.renewed_by_label = new.requested_by_label
        new.renewed_via = new.requested_via
        new.requested_by_id = old.requested_by_id
        new.requested_by_label = old.requested_by_label
        new.requested_via = old.requested_via
        new.save(
            update_fields=[
                "renewed_from",
                "renewed_by",
                "renewed_by_label",
                "renewed_via",
                "requested_by",
                "requested_by_label",
                "requested_via",
            ]
        )
        by_id[new.public_id] = new


def unlink_renewals(apps, schema_editor):
    """Back to a renewal being a request by the renewer (the fields then go)."""
    ApprovalRequest = apps.get_model("approvals", "ApprovalRequest")
    for new in list(ApprovalRequest.objects.exclude(renewed_from="")):
        new.requested_by_id = new.renewed_by_id
        new.requested_by_label = new.renewed_by_label
        new.requested_via = new.renewed_via
        new.save(update_fields=["requested_by", "requested_by_label", "requested_via"])


class Migration(migrations.Migration):
    """The renewals made before 0003: linked back to the request they replaced, their
    renewer recorded as such and the chain's first requester as their requester."""

    dependencies = [("approvals", "0003_approvalrequest_renewed_from_and_by")]

    operations = [migrations.RunPython(link_renewals, unlink_renewals)]
