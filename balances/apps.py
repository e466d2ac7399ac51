from __future__ import annotations

from django.apps import AppConfig


class BalancesConfig(AppConfig):
    name = "balances"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register the tasks in every process, not only in workers (Celery's autodiscovery
        # runs at worker start): a run is queued by task name (balances.sync.request), and
        # with in-process tasks the web process runs it from its own registry.
        from balances import tasks  # noqa: F401
