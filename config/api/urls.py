"""/api/v1/: each app contributes its routes."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("services.api.urls")),
    path("", include("balances.api.urls")),
    path("", include("services.api.fee_urls")),
    path("", include("payouts.api.urls")),
]
