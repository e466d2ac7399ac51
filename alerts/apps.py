from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """What needs attention across services: the overview, alert rules and alerts.  Learns
    what happens below from core.events (subscribed in ready())."""

    name = "alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts import evaluate, metrics, notify  # noqa: F401  (metrics: /metrics gauges)
        from alerts.events import AlertAcknowledged, AlertOpened, AlertResolved
        from alerts.queries import recount_after_commit
        from core import events

        # In the writer's transaction: a rolled-back write opens no alert, and the writer's
        # row lock keeps two evaluations of one balance apart.
        events.subscribe(events.BalanceChanged, evaluate.on_balance_changed)
        events.subscribe(events.SyncFinished, evaluate.on_sync_finished)
        # After commit: mail only about alerts that were opened for good.
        events.subscribe(AlertOpened, notify.on_alert_opened, on_commit=True)
        # The navigation's count of open alerts, read from the cache by every page, is
        # counted again once the transaction that changed it commits.
        for changed in (AlertOpened, AlertAcknowledged, AlertResolved):
            events.subscribe(changed, recount_after_commit)
