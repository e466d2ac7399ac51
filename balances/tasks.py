"""Thin Celery tasks: take ids, call the sync steps, decide the retry.

The names are part of the contract (the beat schedule, queued messages): never rename them.
"""

from __future__ import annotations

import time

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections

from balances.sync.execute import sync_execute, sync_give_up, sync_timed_out
from balances.sync.schedule import sync_reap_abandoned, sync_schedule_due


@shared_task(
    bind=True,
    name="balances.tasks.sync_service",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    ignore_result=True,
)
def sync_service(self, run_public_id: str, service_id: int | None = None) -> str:
    """Execute one sync run.  Safe to deliver twice: an ended run is left alone, and a run
    another worker holds the lock for is retried later."""
    if not self.request.is_eager:
        # The connection is reused across tasks (CELERY_DB_REUSE_MAX): drop it if it broke.
        close_old_connections()
    spent = 0.0
    while True:
        try:
            outcome = sync_execute(run_public_id=run_public_id, service_id=service_id)
        except SoftTimeLimitExceeded:
            return sync_timed_out(run_public_id=run_public_id).status
        if outcome.retry_in is None:
            return outcome.status
        if not self.request.is_eager:
            raise self.retry(countdown=outcome.retry_in)
        # In-process mode: no worker will come back later, so wait here, within a budget.
        if outcome.status == "busy":
            return outcome.status
        if spent + outcome.retry_in > settings.SYNC_INLINE_RETRY_BUDGET_SECONDS:
            return sync_give_up(run_public_id=run_public_id).status
        time.sleep(outcome.retry_in)
        spent += outcome.retry_in


@shared_task(name="balances.tasks.sync_due_services", ignore_result=True)
def sync_due_services() -> int:
    return sync_schedule_due()


@shared_task(name="balances.tasks.reap_abandoned_runs", ignore_result=True)
def reap_abandoned_runs() -> int:
    return sync_reap_abandoned()
