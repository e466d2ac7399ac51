"""Alerts API routes (under /api/v1/)."""

from __future__ import annotations

from alerts.api import views
from core.api.routes import api_path

urlpatterns = [
    *api_path("alert-rules", views.AlertRuleListView.as_view(), "api-alert-rules"),
    *api_path("alert-rules/<str:ruleId>", views.AlertRuleDetailView.as_view(), "api-alert-rule"),
    *api_path("alerts", views.AlertListView.as_view(), "api-alerts"),
    *api_path("alerts/<str:alertId>", views.AlertDetailView.as_view(), "api-alert"),
    *api_path(
        "alerts/<str:alertId>/acknowledge",
        views.AlertAcknowledgeView.as_view(),
        "api-alert-acknowledge",
    ),
]
