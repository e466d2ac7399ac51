from __future__ import annotations

from django.contrib import admin
from django.db import models

from services.models import AuditEntry, FeeProfile, ProviderConnection, Service


class ReadOnlyAdmin(admin.ModelAdmin):
    """Readable in the admin, never added, changed or deleted there (history is append-only;
    other rows change only through the actions, which keep their history)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("public_id", "name", "status", "country", "fee_profile", "updated_at")
    list_filter = ("status", "country")
    search_fields = ("public_id", "name")
    readonly_fields = ("public_id", "created_at", "updated_at")


@admin.register(ProviderConnection)
class ProviderConnectionAdmin(admin.ModelAdmin):
    """Credentials are write-only: the encrypted column is not shown, even here; they are
    edited on the service details page."""

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
    exclude = ("credentials_encrypted",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ("last_success_at", "consecutive_failures", "created_at", "updated_at")
    raw_id_fields = ("service",)


@admin.register(FeeProfile)
class FeeProfileAdmin(admin.ModelAdmin):
    list_display = ("name", "updated_at")
    search_fields = ("name",)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "subject", "actor_label")
    list_filter = ("action",)
    search_fields = ("subject", "actor_label", "service__public_id")
