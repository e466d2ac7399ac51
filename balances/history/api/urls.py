"""Balances across services (under /api/v1/)."""

from __future__ import annotations

from balances.history.api import views
from core.api.routes import api_path

urlpatterns = [*api_path("balances", views.BalancesAcrossView.as_view(), "api-balances-across")]
