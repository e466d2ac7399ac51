"""Webhooks API routes (under /api/v1/)."""

from __future__ import annotations

from core.api.routes import api_path
from webhooks.api import views

urlpatterns = [
    *api_path("webhooks", views.WebhookListView.as_view(), "api-webhooks"),
    *api_path("webhooks/<str:webhookId>", views.WebhookDetailView.as_view(), "api-webhook"),
    *api_path(
        "webhooks/<str:webhookId>/deliveries",
        views.WebhookDeliveriesView.as_view(),
        "api-webhook-deliveries",
    ),
    *api_path(
        "webhooks/<str:webhookId>/deliveries/<str:deliveryId>/redeliver",
        views.DeliveryRedeliverView.as_view(),
        "api-webhook-redeliver",
    ),
]
