"""The schedule: which connections are due, spread with jitter; and closing abandoned runs."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from balances.actions.sync import ABANDONED_CATEGORY, SyncAlreadyRunning, run_fail, sync_request
from balances.models import SyncRun
from core.errors import Conflict
from services.models import ProviderConnection, Service

log = logging.getLogger(__name__)


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
    queued = 0
    for connection in due:
        next_at = now + timedelta(seconds=interval * random.uniform(0.9, 1.1))
        # Claim the slot first (conditional update): two schedulers never queue it twice.
        claimed = ProviderConnection.objects.filter(
            pk=connection.pk, next_sync_at=connection.next_sync_at
        ).update(next_sync_at=next_at)
        if not claimed:
            continue
        try:
            sync_request(
                service=connection.service,
                trigger=SyncRun.Trigger.SCHEDULE,
                countdown=random.uniform(0, tick),
            )
        except (SyncAlreadyRunning, Conflict):
            continue
        queued += 1
    if queued:
        log.info("scheduled %s sync runs", queued)
    return queued


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
