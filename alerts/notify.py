"""Mail about opened alerts, queued once the alert is committed."""

from __future__ import annotations

from alerts.events import AlertOpened
from alerts.tasks import notify_alert


def on_alert_opened(event: AlertOpened) -> None:
    if event.emails:
        notify_alert.delay(event.alert_public_id)
