"""Django admin for alerts: read-only (rules change through the pages and the API, which
evaluate the balances again; alerts open and resolve by themselves)."""

from __future__ import annotations

from django.contrib import admin

from alerts.models import Alert, AlertRule
from core.admin import ReadOnlyAdmin


@admin.register(AlertRule)
class AlertRuleAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "currency", "kind", "service", "threshold", "updated_at")
    list_filter = ("kind", "currency")
    search_fields = ("public_id", "service__public_id", "service__name")
    list_select_related = ("service",)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "status",
        "kind",
        "currency",
        "service",
        "opened_at",
        "opened_value",
        "resolved_at",
        "resolved_value",
    )
    list_filter = ("status", "kind", "currency")
    search_fields = ("public_id", "service__public_id", "service__name")
    list_select_related = ("service",)
