"""Mounted under /services/<service_id>/balances/."""

from __future__ import annotations

from django.urls import path

from balances import sync_views, views
from balances.reviews import views as review_views

app_name = "balances"

urlpatterns = [
    path("", views.balance_list, name="list"),
    path("add/", views.balance_add, name="add"),
    path("history/", views.service_balance_history, name="service_history"),
    path("charts/", views.balance_charts, name="charts"),
    path("sync/", sync_views.sync_start, name="sync"),
    path("sync-status/", sync_views.sync_status, name="sync_status"),
    path("<str:currency>/edit/", views.balance_edit, name="edit"),
    path("<str:currency>/delete/", views.balance_delete, name="delete"),
    path("<str:currency>/history/", views.balance_history, name="history"),
    path("<str:currency>/review/", review_views.balance_review, name="review"),
]
