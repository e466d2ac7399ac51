from __future__ import annotations

from django.apps import AppConfig


class BalancesConfig(AppConfig):
    name = "balances"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register the tasks in every process, not only in workers (Celery's autodiscovery
        # runs at worker start): a run is queued by task name (balances.sync.request), and
        # with in-process tasks the web process runs it from its own registry.
        from balances import (
            metrics,  # noqa: F401  (scrape-time gauges for /metrics)
            tasks,  # noqa: F401
        )
        from balances.approval_handlers import register_handlers
        from balances.providers.base import provider_label
        from core import plain

        plain.set_provider_labeler(provider_label)  # "Finix sync" for the label sync:finix

        register_handlers()  # what approving a balance change means (approvals.registry)
