from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from payouts.models import Payout, PayoutEvent


class PayoutEventInline(admin.TabularInline):
    model = PayoutEvent
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "actor_label", "note", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "service", "currency", "amount", "fee", "status", "created_at")
    list_filter = ("status", "currency")
    search_fields = ("public_id", "service__public_id", "destination", "idempotency_key")
    list_select_related = ("service",)
    inlines = [PayoutEventInline]
