"""Thin Celery tasks: take ids, call the sync steps, decide the retry.

The names are part of the contract (the beat schedule, queued messages): never rename them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import current_app, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections

from balances.sync.batch import sync_execute_batch
from balances.sync.execute import sync_execute, sync_give_up, sync_timed_out
from balances.sync.request import PUBLISH_ERRORS
from balances.sync.schedule import sync_reap_abandoned, sync_schedule_due
from core.observability import context as log_context

log = logging.getLogger(__name__)


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
    # Every log line of the run says which run and service it is about.
    with log_context.bound(sync_run_id=run_public_id, service_id=service_id):
        return _sync_service(self, run_public_id, service_id)


def _sync_service(self, run_public_id: str, service_id: int | None) -> str:
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


@shared_task(
    bind=True,
    name="balances.tasks.sync_batch",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def sync_batch(self, items: list[list[Any]]) -> dict[str, int]:
    """Execute a batch of runs (balances/sync/batch.py): ``items`` are ``[run public id,
    service id]`` pairs.  Safe to deliver twice, like ``sync_service``.  A run to retry (or
    whose service another worker holds) goes on alone, as a ``sync_service`` task with its
    own backoff."""
    if not self.request.is_eager:
        close_old_connections()
    pairs = [(str(run_id), int(service_id)) for run_id, service_id in items]
    try:
        outcomes = sync_execute_batch(items=pairs)
    except SoftTimeLimitExceeded:
        # Celery's backstop (prefork) hit between two runs: those not ended fail as timed out.
        for run_id, _service_id in pairs:
            sync_timed_out(run_public_id=run_id)
        return {"failed": len(pairs)}
    services = dict(pairs)
    counts: dict[str, int] = {}
    for run_id, outcome in outcomes.items():
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.retry_in is not None:
            _retry_alone(run_id, services[run_id], outcome.retry_in)
    return counts


def _retry_alone(run_public_id: str, service_id: int, countdown: float) -> None:
    try:
        current_app.tasks["balances.tasks.sync_service"].apply_async(
            args=(run_public_id, service_id), countdown=countdown
        )
    except PUBLISH_ERRORS as exc:
        # The run waits as queued; the reaper closes it if no task ever comes.
        log.warning("sync run=%s retry not queued: %s", run_public_id, type(exc).__name__)


@shared_task(name="balances.tasks.sync_due_services", ignore_result=True)
def sync_due_services() -> int:
    return sync_schedule_due()


@shared_task(name="balances.tasks.reap_abandoned_runs", ignore_result=True)
def reap_abandoned_runs() -> int:
    return sync_reap_abandoned()
