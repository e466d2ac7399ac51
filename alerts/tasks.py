"""Thin Celery tasks: take ids, call an action.  The names are part of the contract (the beat
schedule, queued messages): never rename them."""

from __future__ import annotations

from celery import shared_task

from alerts.actions import alert_notify, alerts_check


@shared_task(name="alerts.tasks.check_alerts", ignore_result=True)
def check_alerts() -> list[int]:
    """Open and resolve the alerts of time-based conditions (staleness)."""
    opened, resolved = alerts_check()
    return [opened, resolved]


@shared_task(
    name="alerts.tasks.notify_alert",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=5,
)
def notify_alert(alert_public_id: str) -> int:
    """Mail the addresses of an opened alert's rule (SMTP errors are OSErrors: retried)."""
    return alert_notify(alert_public_id=alert_public_id)
