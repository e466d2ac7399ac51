from __future__ import annotations

from django.contrib import admin

from balances.models import Balance, BalanceChange, SyncRun
from services.admin import ReadOnlyAdmin


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    """Balances are changed through the Balances pages (which keep history and versions);
    the admin shows them read-only."""

    list_display = (
        "service",
        "currency",
        "available",
        "pending",
        "reserved",
        "version",
        "updated_at",
        "updated_by_label",
    )
    list_filter = ("currency", "updated_by_type")
    search_fields = ("service__public_id", "service__name", "currency")
    list_select_related = ("service",)


@admin.register(BalanceChange)
class BalanceChangeAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "service",
        "currency",
        "kind",
        "actor_label",
        "old_available",
        "new_available",
        "reason",
    )
    list_filter = ("kind", "actor_type", "currency")
    search_fields = ("service__public_id", "service__name", "currency", "actor_label", "reason")
    list_select_related = ("service",)
    date_hierarchy = "created_at"


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "service",
        "provider_kind",
        "trigger",
        "status",
        "created_at",
        "finished_at",
        "error_category",
    )
    list_filter = ("status", "trigger", "provider_kind", "error_category")
    search_fields = ("public_id", "service__public_id", "service__name")
    list_select_related = ("service",)
