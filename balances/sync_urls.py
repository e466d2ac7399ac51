"""Mounted under /services/<service_id>/sync-runs/."""

from __future__ import annotations

from django.urls import path

from balances import sync_views

app_name = "sync_runs"

urlpatterns = [
    path("", sync_views.run_list, name="list"),
    path("<str:run_id>/", sync_views.run_detail, name="detail"),
]
