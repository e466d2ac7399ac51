"""The overview and the lists across services, mounted at the site's root."""

from __future__ import annotations

from django.urls import path

from alerts.overview import views

app_name = "overview"

urlpatterns = [
    path("", views.overview, name="index"),
    path("balances/", views.balance_list, name="balances"),
    path("sync-runs/", views.sync_run_list, name="sync_runs"),
    path("payouts/", views.payout_list, name="payouts"),
    path("payouts/bulk/", views.payout_bulk, name="payouts_bulk"),
]
