"""Mounted under /services/<service_id>/payouts/."""

from __future__ import annotations

from django.urls import path

from payouts import views

app_name = "payouts"

urlpatterns = [
    path("", views.payout_list, name="list"),
    path("add/", views.payout_add, name="add"),
    path("preview/", views.payout_preview, name="preview"),
    path("<str:payout_id>/", views.payout_detail, name="detail"),
    path("<str:payout_id>/<str:verb>/", views.payout_action, name="action"),
]
