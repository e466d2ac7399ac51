"""Balances and sync API routes (under /api/v1/).  ``sync`` and ``history`` are listed before
``{currency}`` so that they are never taken for a currency code."""

from __future__ import annotations

from balances.api import sync_views, views
from balances.reviews.api import views as review_views
from core.api.routes import api_path

urlpatterns = [
    *api_path("services/<str:serviceId>/balances", views.BalanceListView.as_view(), "api-balances"),
    *api_path(
        "services/<str:serviceId>/balances/sync",
        sync_views.SyncStartView.as_view(),
        "api-balances-sync",
    ),
    *api_path(
        "services/<str:serviceId>/balances/history",
        views.ServiceHistoryView.as_view(),
        "api-service-balance-history",
    ),
    *api_path(
        "services/<str:serviceId>/balances/<str:currency>/history",
        views.BalanceHistoryView.as_view(),
        "api-balance-history",
    ),
    *api_path(
        "services/<str:serviceId>/balances/<str:currency>/review",
        review_views.BalanceReviewView.as_view(),
        "api-balance-review",
    ),
    *api_path(
        "services/<str:serviceId>/balances/<str:currency>",
        views.BalanceDetailView.as_view(),
        "api-balance",
    ),
    *api_path(
        "services/<str:serviceId>/sync-runs",
        sync_views.SyncRunListView.as_view(),
        "api-sync-runs",
    ),
    *api_path("sync-runs", sync_views.SyncRunsAcrossView.as_view(), "api-sync-runs-all"),
    *api_path("sync-runs/<str:syncRunId>", sync_views.SyncRunDetailView.as_view(), "api-sync-run"),
]
