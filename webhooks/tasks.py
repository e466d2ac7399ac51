"""Thin Celery tasks: take ids, call the action, decide when to come back.

The names are part of the contract (the beat schedule, queued messages): never rename them.
"""

from __future__ import annotations

from celery import current_app, shared_task
from django.db import close_old_connections

from webhooks.actions import deliveries_purge, delivery_attempt
from webhooks.queries import deliveries_due

# Retries further away than this are not held as countdown messages (Redis hands a message
# that waits longer than its visibility timeout to a second worker): retry_due queues them
# when they are due.
MAX_COUNTDOWN_SECONDS = 300


@shared_task(
    bind=True,
    name="webhooks.tasks.deliver",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def deliver(self, delivery_id: int) -> str:
    """One attempt of one delivery.  Idempotent: a delivered, not yet due, or claimed
    delivery is left alone (the action's claim), so a message delivered twice sends once."""
    if not self.request.is_eager:
        close_old_connections()
    outcome = delivery_attempt(delivery_id=delivery_id)
    # With in-process tasks nobody comes back later: retry_due (beat) sends due retries.
    if (
        outcome.retry_in is not None
        and not self.request.is_eager
        and outcome.retry_in <= MAX_COUNTDOWN_SECONDS
    ):
        deliver.apply_async(args=(delivery_id,), countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="webhooks.tasks.retry_due", ignore_result=True)
def retry_due(limit: int = 500) -> int:
    """Every minute (beat): queue the deliveries that are due, including those of a worker
    that died mid-attempt (their lease has expired)."""
    ids = deliveries_due(limit=limit)
    task = current_app.tasks["webhooks.tasks.deliver"]
    for pk in ids:
        task.apply_async(args=(pk,))
    return len(ids)


@shared_task(name="webhooks.tasks.purge_old", ignore_result=True)
def purge_old() -> int:
    """Hourly (beat): forget delivery logs past WEBHOOK_LOG_RETENTION_DAYS, a batch at a
    time."""
    return deliveries_purge()
