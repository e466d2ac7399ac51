"""Payouts API routes (under /api/v1/)."""

from __future__ import annotations

from core.api.routes import api_path
from payouts.actions import ACTIONS
from payouts.api import views

urlpatterns = [
    *api_path(
        "services/<str:serviceId>/payouts", views.ServicePayoutsView.as_view(), "api-payouts"
    ),
    *api_path("payouts/<str:payoutId>", views.PayoutDetailView.as_view(), "api-payout"),
]
for _verb in ACTIONS:
    urlpatterns += api_path(
        f"payouts/<str:payoutId>/{_verb}", views.transition_view(_verb), f"api-payout-{_verb}"
    )
