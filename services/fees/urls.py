"""Mounted under /fee-profiles/."""

from __future__ import annotations

from django.urls import path

from services.fees import views as views

app_name = "fee_profiles"

urlpatterns = [
    path("", views.fee_profile_list, name="list"),
    path("add/", views.fee_profile_add, name="add"),
    path("assign/<str:service_id>/", views.service_fee_profile, name="assign"),
    path("<int:pk>/", views.fee_profile_detail, name="detail"),
    path("<int:pk>/edit/", views.fee_profile_edit, name="edit"),
    path("<int:pk>/delete/", views.fee_profile_delete, name="delete"),
    path("<int:pk>/history/", views.fee_profile_history, name="history"),
    path("<int:pk>/assign/", views.fee_profile_assign, name="assign_service"),
    path("<int:pk>/rules/add/", views.fee_rule_add, name="rule_add"),
    path("<int:pk>/rules/<int:rule_id>/edit/", views.fee_rule_edit, name="rule_edit"),
    path("<int:pk>/rules/<int:rule_id>/delete/", views.fee_rule_delete, name="rule_delete"),
]
