"""Mounted under /approvals/."""

from __future__ import annotations

from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("bulk/", views.bulk, name="bulk"),
    path("policies/", views.policy_list, name="policies"),
    path("policies/<str:currency>/", views.policy_edit, name="policy_edit"),
    path("<str:approval_id>/", views.detail, name="detail"),
]
