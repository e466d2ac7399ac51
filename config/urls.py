from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from core.favicon import favicon
from core.observability import views as observability
from core.password_reset import ThrottledPasswordResetView

urlpatterns = [
    # Probes and Prometheus (core/observability/views.py): no login, fixed answers.
    path("healthz", observability.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
    # The overview (the landing page) and the lists across services: /, /balances/,
    # /sync-runs/, /payouts/.
    path("", include("alerts.overview.urls")),
    path(
        "accounts/password_reset/",
        ThrottledPasswordResetView.as_view(),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("alerts/", include("alerts.urls")),
    path("alert-rules/", include("alerts.rule_urls")),
    path("approvals/", include("approvals.urls")),
    path("audit/", include("services.audit.urls")),
    path("account/", include("services.accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    path("fee-profiles/", include("services.fees.urls")),
    path("services/<str:service_id>/balances/", include("balances.urls")),
    path("services/<str:service_id>/sync-runs/", include("balances.sync_urls")),
    path("services/<str:service_id>/provider/", include("balances.connections.urls")),
    path("services/<str:service_id>/payouts/", include("payouts.urls")),
    path("services/", include("services.urls")),
    path("webhooks/", include("webhooks.urls")),
]

if settings.PROVIDER_SANDBOXES:
    # Built-in provider simulators for the embedded default and the tests.
    urlpatterns.append(path("sandbox/", include("balances.sandbox.urls")))

# Under /api/ errors are JSON in the API's envelope; elsewhere the HTML pages.
handler400 = "core.api.errors.handler400"
handler403 = "core.api.errors.handler403"
handler404 = "core.api.errors.handler404"
handler500 = "core.api.errors.handler500"
