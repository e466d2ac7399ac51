"""Audit log API route (under /api/v1/)."""

from __future__ import annotations

from core.api.routes import api_path
from services.audit.api import views

urlpatterns = [*api_path("audit", views.AuditLogView.as_view(), "api-audit")]
