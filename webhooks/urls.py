"""Mounted under /webhooks/."""

from __future__ import annotations

from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.webhook_list, name="list"),
    path("add/", views.webhook_add, name="add"),
    path("<str:webhook_id>/", views.webhook_detail, name="detail"),
    path("<str:webhook_id>/edit/", views.webhook_edit, name="edit"),
    path("<str:webhook_id>/delete/", views.webhook_delete, name="delete"),
    path("<str:webhook_id>/roll-secret/", views.webhook_roll_secret, name="roll_secret"),
    path(
        "<str:webhook_id>/deliveries/<str:delivery_id>/redeliver/",
        views.delivery_redeliver,
        name="redeliver",
    ),
]
