"""The Django admin for balances, their history, sync runs and provider connections: all
read-only (balances change through their actions, with locks, versions and history; a
connection is edited on its service's page, where its credentials are written)."""

from __future__ import annotations

from django.contrib import admin

from balances.models import Balance, BalanceChange, SyncRun
from core.admin import ReadOnlyAdmin
from services.models import ProviderConnection


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


@admin.register(ProviderConnection)
class ProviderConnectionAdmin(ReadOnlyAdmin):
    """Registered here because balances owns the connection actions.  Credentials are
    write-only: the encrypted column is not shown, even here."""

    list_display = (
        "service",
        "kind",
        "base_url",
        "last_success_at",
        "consecutive_failures",
        "paused_at",
    )
    list_filter = ("kind", ("paused_at", admin.EmptyFieldListFilter))
    search_fields = ("service__public_id", "service__name")
    list_select_related = ("service",)
    fields = (
        "service",
        "kind",
        "base_url",
        "options",
        "create_missing_balances",
        "next_sync_at",
        "consecutive_failures",
        "paused_at",
        "paused_reason",
        "last_success_at",
        "created_at",
        "updated_at",
    )
