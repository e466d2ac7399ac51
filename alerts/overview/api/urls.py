"""Overview API route (under /api/v1/)."""

from __future__ import annotations

from alerts.overview.api import views
from core.api.routes import api_path

urlpatterns = [*api_path("overview", views.OverviewView.as_view(), "api-overview")]
