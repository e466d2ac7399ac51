"""Mounted under /alert-rules/."""

from __future__ import annotations

from django.urls import path

from alerts import views

app_name = "alert_rules"

urlpatterns = [
    path("", views.rule_list, name="list"),
    path("add/", views.rule_add, name="add"),
    path("<str:rule_id>/edit/", views.rule_edit, name="edit"),
    path("<str:rule_id>/delete/", views.rule_delete, name="delete"),
]
