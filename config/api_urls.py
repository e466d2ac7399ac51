"""/api/v1/: each app contributes its routes; the schema and its docs are served here."""

from __future__ import annotations

from importlib import import_module

from django.urls import path

from core.api.views import DocsView, SchemaView

# Each app's routes, in this order.  Listed flat rather than as an ``include()`` per app
# (none has a namespace): every request under /api/v1/ would otherwise go through a nested
# resolver per app, each failing in turn before the one that matches.
ROUTES = (
    "services.api.urls",
    "services.audit.api.urls",
    "balances.connections.api.urls",
    "balances.api.urls",
    "balances.history.api.urls",
    "services.fees.api.urls",
    "payouts.api.urls",
    "approvals.api.urls",
    "webhooks.api.urls",
    "alerts.overview.api.urls",
    "alerts.api.urls",
)

urlpatterns = [
    *(pattern for module in ROUTES for pattern in import_module(module).urlpatterns),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
]
