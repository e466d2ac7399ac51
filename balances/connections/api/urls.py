"""Provider connection API routes (under /api/v1/)."""

from __future__ import annotations

from balances.connections.api import views
from core.api.routes import api_path

urlpatterns = [
    *api_path("services/<str:serviceId>/provider", views.ConnectionView.as_view(), "api-provider"),
]
