from __future__ import annotations

from django.urls import path

from services import views

app_name = "services"

urlpatterns = [
    path("", views.service_list, name="list"),
    path("add/", views.service_add, name="add"),
    path("<str:service_id>/", views.service_detail, name="detail"),
    path("<str:service_id>/edit/", views.service_edit, name="edit"),
    path("<str:service_id>/delete/", views.service_delete, name="delete"),
    path("<str:service_id>/history/", views.service_history, name="history"),
]
