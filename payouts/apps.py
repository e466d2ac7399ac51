from __future__ import annotations

from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from payouts.approval_handlers import register_handlers

        register_handlers()  # what approving a payout's request means (approvals.registry)
