"""The Django admin for webhooks: read-only.  Webhooks are created, edited and deleted on
their pages and through the API (URL checks, audit); their signing secrets are never shown,
not even encrypted."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from webhooks.models import Webhook, WebhookDelivery


@admin.register(Webhook)
class WebhookAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "url", "active", "failing_since", "disabled_at", "created_at")
    list_filter = ("active",)
    search_fields = ("public_id", "url", "description")
    fields = (
        "public_id",
        "url",
        "description",
        "events",
        "active",
        "secret_created_at",
        "previous_secret_expires_at",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "created_by_label",
        "created_at",
        "updated_at",
    )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "webhook",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("public_id", "webhook__public_id", "event__public_id")
    list_select_related = ("webhook", "event")
    date_hierarchy = "created_at"
    exclude = ("locked_until",)
