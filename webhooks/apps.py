from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Signed webhook deliveries of domain events to REST clients."""

    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webhooks import subscribers, tasks  # noqa: F401 (registers the tasks)

        subscribers.register()
