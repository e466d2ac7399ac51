"""Mounted under /alerts/."""

from __future__ import annotations

from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.alert_list, name="list"),
    path("<str:alert_id>/", views.alert_detail, name="detail"),
]
