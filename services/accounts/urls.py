"""Mounted at /account/: the signed-in user's own settings."""

from __future__ import annotations

from django.urls import path

from services.accounts import views as account_views

app_name = "account"

urlpatterns = [
    path("api-keys/", account_views.api_keys, name="api_keys"),
    path("api-keys/<int:key_id>/revoke/", account_views.api_key_revoke_view, name="api_key_revoke"),
]
