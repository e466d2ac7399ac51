from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest

from core.auth_backend import group_names


def _groups_of(request: HttpRequest) -> Callable[[], list[str]]:
    """The top bar's group badges, read when a template shows them: with the permissions,
    in the one query that loads those (core/auth_backend.py)."""

    def names() -> list[str]:
        user = getattr(request, "user", None)
        return group_names(user) if user is not None and user.is_authenticated else []

    return names


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
    elif path.startswith("/approvals/policies/"):
        section = "approval_policies"
    elif path.startswith("/approvals/"):
        section = "approvals"
    elif path.startswith("/audit/"):
        section = "audit"
    return {
        "nav_section": section,
        "user_groups": _groups_of(request),
        "sandboxes_enabled": settings.PROVIDER_SANDBOXES,
        "sync_interval_minutes": settings.SYNC_INTERVAL_MINUTES,
    }
