"""The schedule: which connections are due, spread with jitter; failed runs counted on their
connection, whose schedule pauses after SYNC_PAUSE_AFTER_FAILURES in a row; and closing runs
whose worker vanished."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from balances import events
from balances.models import SyncRun
from balances.sync.request import (
    QueueUnavailable,
    SyncAlreadyRunning,
    batching,
    sync_request,
    sync_request_many,
)
from core.errors import Conflict
from services.models import ProviderConnection, Service

log = logging.getLogger(__name__)

ABANDONED_CATEGORY = "abandoned"


def sync_schedule_due(*, now: datetime | None = None, limit: int = 2000) -> int:
    """Queue a run for every connection that is due, not paused and not already syncing.

    Each run starts after a random delay within the scheduler's tick, and the next due time is
    the interval ± 10 %, so thousands of services do not hit their providers in one burst and
    drift apart over time.  A service whose previous run is still going (a slow provider) is
    skipped rather than piled up.
    """
    now = now or timezone.now()
    interval = timedelta(minutes=settings.SYNC_INTERVAL_MINUTES).total_seconds()
    tick = float(settings.SYNC_SCHEDULER_TICK_SECONDS)
    due = (
        ProviderConnection.objects.filter(paused_at__isnull=True)
        .filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now))
        .exclude(service__status=Service.Status.CLOSED)
        .exclude(service__sync_runs__status__in=SyncRun.ACTIVE)
        .select_related("service")
        .order_by(Coalesce("next_sync_at", "created_at"))[:limit]
    )
    if batching():
        return _schedule_batches(list(due), now=now, interval=interval, tick=tick)
    queued = 0
    for connection in due:
        next_at = now + timedelta(seconds=interval * random.uniform(0.9, 1.1))
        if not _claim_slot(connection, next_at):
            continue
        try:
            sync_request(
                service=connection.service,
                trigger=SyncRun.Trigger.SCHEDULE,
                countdown=random.uniform(0, tick),
            )
        except QueueUnavailable:
            # Nothing was left behind; give the slot back so that the next tick retries.
            _give_back(connection, next_at)
            log.warning("scheduling stopped: the task queue cannot be reached")
            break
        except (SyncAlreadyRunning, Conflict):
            continue
        queued += 1
    if queued:
        log.info("scheduled %s sync runs", queued)
    return queued


def _claim_slot(connection: ProviderConnection, next_at: datetime) -> bool:
    """Claim the slot first (conditional update): two schedulers never queue it twice."""
    return bool(
        ProviderConnection.objects.filter(
            pk=connection.pk, next_sync_at=connection.next_sync_at
        ).update(next_sync_at=next_at)
    )


def _give_back(connection: ProviderConnection, next_at: datetime) -> None:
    ProviderConnection.objects.filter(pk=connection.pk, next_sync_at=next_at).update(
        next_sync_at=connection.next_sync_at
    )


def _schedule_batches(
    due: list[ProviderConnection], *, now: datetime, interval: float, tick: float
) -> int:
    """The due connections' runs as batches (``sync_request_many``), each batch starting
    after a random delay within the tick."""
    claimed: list[tuple[ProviderConnection, datetime]] = []
    for connection in due:
        next_at = now + timedelta(seconds=interval * random.uniform(0.9, 1.1))
        if _claim_slot(connection, next_at):
            claimed.append((connection, next_at))
    try:
        runs = sync_request_many(
            services=[c.service for c, _ in claimed],
            trigger=SyncRun.Trigger.SCHEDULE,
            jitter=tick,
        )
    except QueueUnavailable:
        # The runs were withdrawn (or none created): give every slot back for the next tick.
        for connection, next_at in claimed:
            _give_back(connection, next_at)
        log.warning("scheduling stopped: the task queue cannot be reached")
        return 0
    if runs:
        log.info("scheduled %s sync runs", len(runs))
    return len(runs)


@transaction.atomic
def run_fail(*, run: SyncRun, category: str, message: str) -> SyncRun:
    """End ``run`` as failed and count the failure on its connection (pausing it after
    SYNC_PAUSE_AFTER_FAILURES failures in a row)."""
    now = timezone.now()
    updated = SyncRun.objects.filter(pk=run.pk, status__in=SyncRun.ACTIVE).update(
        status=SyncRun.Status.FAILED,
        finished_at=now,
        next_attempt_at=None,
        error_category=category,
        error_message=message[:2000],
    )
    run.refresh_from_db()
    if updated:
        _count_failure(run, message, now)
        events.sync_finished(run=run)
    return run


def _count_failure(run: SyncRun, message: str, now: datetime) -> None:
    connection = (
        ProviderConnection.objects.select_for_update().filter(service_id=run.service_id).first()
    )
    if connection is None:
        return
    connection.consecutive_failures += 1
    limit = settings.SYNC_PAUSE_AFTER_FAILURES
    fields = ["consecutive_failures", "updated_at"]
    if limit and connection.consecutive_failures >= limit and not connection.is_paused:
        connection.paused_at = now
        connection.paused_reason = (
            f"Paused after {connection.consecutive_failures} failed runs in a row. "
            f"Last error — {run.error_category_label}: {message[:300]}"
        )
        fields += ["paused_at", "paused_reason"]
        log.warning("sync paused service=%s after %s failures", run.service_id, limit)
    connection.save(update_fields=fields)


def abandoned_after() -> timedelta:
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    return timedelta(seconds=visibility + settings.SYNC_TASK_TIME_LIMIT)


def sync_reap_abandoned(*, now: datetime | None = None) -> int:
    """Fail runs whose worker vanished and whose task will not come back (past the broker's
    visibility timeout), so that their services can be synced again."""
    now = now or timezone.now()
    limit = now - abandoned_after()
    stuck = (
        SyncRun.objects.filter(status__in=SyncRun.ACTIVE)
        .annotate(last_sign=Coalesce("next_attempt_at", "started_at", "created_at"))
        .filter(last_sign__lt=limit)
    )
    count = 0
    for run in stuck:
        minutes = int(abandoned_after().total_seconds() // 60)
        run_fail(
            run=run,
            category=ABANDONED_CATEGORY,
            message=f"No worker finished this run within {minutes} minutes; it was closed so "
            "that the service can be synced again.",
        )
        count += 1
    return count
