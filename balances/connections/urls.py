"""Mounted under /services/<service_id>/provider/."""

from __future__ import annotations

from django.urls import path

from balances.connections import views as connection_views

app_name = "provider"

urlpatterns = [
    path("", connection_views.connection_edit, name="edit"),
    path("test/", connection_views.connection_test, name="test"),
    path("delete/", connection_views.connection_delete, name="delete"),
    path("resume/", connection_views.connection_resume, name="resume"),
]
