"""Services API routes (under /api/v1/); the provider connection's are in
balances/connections/api/urls.py."""

from __future__ import annotations

from core.api.routes import api_path
from services.api import views

urlpatterns = [
    *api_path("services", views.ServiceListView.as_view(), "api-services"),
    *api_path("services/<str:serviceId>", views.ServiceDetailView.as_view(), "api-service"),
]
