from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict:
    path = request.path
    section = "services"
    if path.startswith("/fee-profiles"):
        section = "fee_profiles"
    elif path.startswith("/account/"):  # not /accounts/ (login, password reset)
        section = "account"
    elif path.startswith("/webhooks/"):
        section = "webhooks"
    elif path.startswith("/alerts/"):
        section = "alerts"
    elif path.startswith("/alert-rules/"):
        section = "alert_rules"
    return {
        "nav_section": section,
        "sandboxes_enabled": settings.PROVIDER_SANDBOXES,
        "sync_interval_minutes": settings.SYNC_INTERVAL_MINUTES,
    }
