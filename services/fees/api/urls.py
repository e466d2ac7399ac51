"""Fee profiles API routes (under /api/v1/)."""

from __future__ import annotations

from core.api.routes import api_path
from services.fees.api import views as views

urlpatterns = [
    *api_path("fee-profiles", views.FeeProfileListView.as_view(), "api-fee-profiles"),
    *api_path("fee-profiles/<int:id>", views.FeeProfileDetailView.as_view(), "api-fee-profile"),
    *api_path("fee-profiles/<int:id>/quote", views.FeeQuoteView.as_view(), "api-fee-profile-quote"),
    *api_path("fee-profiles/<int:id>/rules", views.FeeRuleListView.as_view(), "api-fee-rules"),
    *api_path(
        "fee-profiles/<int:id>/rules/<int:ruleId>",
        views.FeeRuleDetailView.as_view(),
        "api-fee-rule",
    ),
]
