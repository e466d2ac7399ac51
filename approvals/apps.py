from __future__ import annotations

from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    """Four eyes on money: approval policies per currency and the requests that wait for a
    second person.  Knows nothing of balances or payouts: the apps above register what
    approving, rejecting and describing a request of their kind means (approvals.registry)."""

    name = "approvals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from approvals import policy, tasks  # noqa: F401

        # A malformed APPROVAL_DEFAULTS stops the start, naming the variable.
        policy.platform_defaults()
