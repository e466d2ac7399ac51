"""The Django admin for approvals: read-only.  Requests are decided only through the
Approvals pages and the API (never by the requester, with the kind's rules applied in the
same transaction); policies are set there too, audited."""

from __future__ import annotations

from django.contrib import admin

from approvals.models import ApprovalPolicy, ApprovalRequest
from core.admin import ReadOnlyAdmin


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "kind",
        "service",
        "currency",
        "status",
        "requested_by_label",
        "requested_at",
        "decided_by_label",
        "decided_at",
    )
    list_filter = ("status", "kind", "currency")
    search_fields = (
        "public_id",
        "service__public_id",
        "service__name",
        "payout_public_id",
        "requested_by_label",
        "decided_by_label",
    )
    list_select_related = ("service",)
    date_hierarchy = "requested_at"


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(ReadOnlyAdmin):
    list_display = (
        "currency",
        "manual_change_above",
        "payout_above",
        "nonzero_deletion",
        "updated_by_label",
        "updated_at",
    )
    search_fields = ("currency",)
