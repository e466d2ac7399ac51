"""Thin Celery tasks: take ids, call an action.  The names are part of the contract (the beat
schedule, queued messages): never rename them."""

from __future__ import annotations

import logging

from celery import shared_task

from alerts.actions import alert_notify, alerts_check, alerts_mail_owed

logger = logging.getLogger(__name__)


@shared_task(name="alerts.tasks.check_alerts", ignore_result=True)
def check_alerts() -> list[int]:
    """Open and resolve the alerts of time-based conditions (staleness); send the mails
    still owed (an alert that opened while the queue was down)."""
    opened, resolved = alerts_check()
    mailed = 0
    for public_id in alerts_mail_owed():
        try:
            mailed += alert_notify(alert_public_id=public_id)
        except OSError:
            logger.warning("alert %s: mail server unavailable, tried again later", public_id)
            break  # the same server for every alert: the next check tries again
        except Exception:
            # One alert's mail failing otherwise (its lease holds it for a while) does not
            # keep the others waiting.
            logger.exception("alert %s: mail not sent, tried again later", public_id)
    return [opened, resolved, mailed]


@shared_task(name="alerts.tasks.notify_alert", ignore_result=True, acks_late=True)
def notify_alert(alert_public_id: str) -> int:
    """Mail the addresses of an opened alert's rule.  A mail server that fails (an OSError)
    leaves the mail owed: the periodic check sends it (not retried here, where an in-process
    run would wait for every retry inside the request that opened the alert)."""
    try:
        return alert_notify(alert_public_id=alert_public_id)
    except OSError as exc:
        logger.warning(
            "alert %s: mail server unavailable (%s), tried again by the periodic check",
            alert_public_id,
            type(exc).__name__,
        )
        return 0
