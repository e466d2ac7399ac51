"""Approvals API routes (under /api/v1/)."""

from __future__ import annotations

from approvals.api import views
from core.api.routes import api_path

urlpatterns = [
    *api_path(
        "approval-policies/<str:currency>",
        views.ApprovalPolicyView.as_view(),
        "api-approval-policy",
    ),
    *api_path("approvals", views.ApprovalListView.as_view(), "api-approvals"),
    *api_path("approvals/<str:approvalId>", views.ApprovalDetailView.as_view(), "api-approval"),
    *api_path(
        "approvals/<str:approvalId>/approve",
        views.ApprovalApproveView.as_view(),
        "api-approval-approve",
    ),
    *api_path(
        "approvals/<str:approvalId>/reject",
        views.ApprovalRejectView.as_view(),
        "api-approval-reject",
    ),
    *api_path(
        "approvals/<str:approvalId>/renew",
        views.ApprovalRenewView.as_view(),
        "api-approval-renew",
    ),
]
