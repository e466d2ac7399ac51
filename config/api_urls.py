"""/api/v1/: each app contributes its routes; the schema and its docs are served here."""

from __future__ import annotations

from django.urls import include, path

from core.api.views import DocsView, SchemaView

urlpatterns = [
    path("", include("services.api.urls")),
    path("", include("services.audit.api.urls")),
    path("", include("balances.connections.api.urls")),
    path("", include("balances.api.urls")),
    path("", include("balances.history.api.urls")),
    path("", include("services.fees.api.urls")),
    path("", include("payouts.api.urls")),
    path("", include("approvals.api.urls")),
    path("", include("webhooks.api.urls")),
    path("", include("alerts.overview.api.urls")),
    path("", include("alerts.api.urls")),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
]
