"""Mounted at ``/sandbox/`` by config/urls.py only when ``settings.PROVIDER_SANDBOXES`` is on.

Each provider's base URL is ``<server>/sandbox/<kind>``; below it the provider's own paths.
"""

from __future__ import annotations

from django.urls import path

from balances.sandbox import views

app_name = "sandbox"

urlpatterns = [
    path("syncpay/api/v1/accounts/balances", views.syncpay_balances, name="syncpay-balances"),
    path("finix/balances/<str:balance_id>", views.finix_balance, name="finix-balance"),
    path("wise/v4/profiles/<str:profile_id>/balances", views.wise_balances, name="wise-balances"),
    path("payop/v1/wallets/get-balances", views.payop_balances, name="payop-balances"),
]
