"""Executing a run (the task's work): take the service's lock, fetch outside any transaction,
hand the snapshot to ``snapshot_apply``, and decide what a provider error means: a retry with
backoff and jitter (retryable errors, within SYNC_MAX_ATTEMPTS) or the end of the run.

Idempotent: a run that already ended is left alone, and a run another worker holds the lock
for is reported ``busy`` (the task retries later).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from balances import locks
from balances.connections.actions import connection_config
from balances.models import Balance, SyncRun
from balances.providers.base import ConnectionConfig, ErrorCategory, ProviderError, get_adapter
from balances.sync.apply import ConcurrentEdit, snapshot_apply
from balances.sync.schedule import run_fail
from core.crypto import CredentialsUnreadable
from services.models import ProviderConnection

log = logging.getLogger(__name__)

CONFLICT_CATEGORY = "conflict"
MAX_FETCH_ROUNDS = 3  # re-fetches when an operator edit lands during the fetch


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | failed | retry | busy | finished
    retry_in: float | None = None


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter; never earlier than the provider's Retry-After.

    Always well inside the broker's visibility timeout: a retry waits unacknowledged in a
    worker, and one older than the timeout would be handed to a second worker.
    """
    base = settings.SYNC_RETRY_BASE_SECONDS
    cap = settings.SYNC_RETRY_MAX_SECONDS
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    ceiling = min(cap * 3, visibility / 2)
    if retry_after is not None:
        return min(max(retry_after, 0.0) + random.uniform(0, base), ceiling)
    return min(random.uniform(base, min(cap, base * 2 ** max(attempt - 1, 0))), ceiling)


def sync_execute(*, run_public_id: str, service_id: int | None = None) -> Outcome:
    """Run one sync: lock the service, fetch (no transaction), apply (one transaction).

    ``service_id`` comes with the task so that the lock is taken without a query; without it,
    it is looked up.
    """
    if service_id is None:
        service_id = (
            SyncRun.objects.filter(public_id=run_public_id)
            .values_list("service_id", flat=True)
            .first()
        )
        if service_id is None:
            return Outcome("finished")
    lock_name = locks.service_lock_name(service_id)
    token = locks.acquire(lock_name, settings.SYNC_LOCK_TTL_SECONDS)
    if token is None:
        return Outcome("busy", retry_in=max(1.0, locks.remaining(lock_name)))
    try:
        return _execute_locked(run_public_id, service_id)
    finally:
        locks.release(lock_name, token)


def _execute_locked(run_public_id: str, service_id: int) -> Outcome:
    run = _mark_running(run_public_id, service_id)
    if run is None:
        return Outcome("finished")
    connection = run.service.provider_connection_or_none
    if connection is None:
        run_fail(
            run=run,
            category=ErrorCategory.CONFIGURATION,
            message="The provider connection was removed.",
        )
        return Outcome("failed")
    try:
        config = connection_config(connection)
    except CredentialsUnreadable as exc:
        run_fail(run=run, category=ErrorCategory.CONFIGURATION, message=str(exc))
        return Outcome("failed")
    return _fetch_and_apply(run, connection, config)


def _mark_running(run_public_id: str, service_id: int) -> SyncRun | None:
    """Move a queued (or interrupted running) run to running and load it with its service and
    connection; None if it already ended."""
    now = timezone.now()
    runs = SyncRun.objects.filter(public_id=run_public_id, service_id=service_id)
    moved = runs.filter(status__in=SyncRun.ACTIVE).update(
        status=SyncRun.Status.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now)),
        attempts=F("attempts") + 1,
        next_attempt_at=None,
    )  # query: one conditional UPDATE, no transaction needed
    if not moved:
        return None
    return runs.select_related("service", "service__provider_connection").first()
    # ^ query: the run, its service and its connection


def _fetch_and_apply(
    run: SyncRun, connection: ProviderConnection, config: ConnectionConfig
) -> Outcome:
    """Fetch and apply; fetch again when an operator edit landed during the fetch (at most
    MAX_FETCH_ROUNDS times), so that a manual edit is never overwritten by an older read."""
    adapter = get_adapter(connection.kind)
    conflict: ConcurrentEdit | None = None
    for _round in range(MAX_FETCH_ROUNDS):
        expected = _expected_versions(run.service_id)
        try:
            snapshot = adapter.fetch_snapshot(config)
        except ProviderError as exc:
            return _handle_provider_error(run, exc)
        try:
            snapshot_apply(
                run=run, connection=connection, snapshot=snapshot, expected_versions=expected
            )
        except ConcurrentEdit as exc:
            conflict = exc
            log.info("sync run=%s re-fetching after concurrent edit of %s", run.public_id, exc)
            continue
        return Outcome("succeeded")
    assert conflict is not None
    run_fail(
        run=run,
        category=CONFLICT_CATEGORY,
        message=(
            f"{', '.join(conflict.currencies)} kept being edited (by {', '.join(conflict.by)}) "
            "while the provider was being read; nothing was overwritten. Run the sync again."
        ),
    )
    return Outcome("failed")


def _expected_versions(service_id: int) -> dict[str, int]:
    return dict(Balance.objects.filter(service_id=service_id).values_list("currency", "version"))


def _handle_provider_error(run: SyncRun, exc: ProviderError) -> Outcome:
    # Our own limiter (no HTTP status) only postpones the run: it is not the provider failing.
    own_limit = exc.category == ErrorCategory.RATE_LIMITED and exc.status_code is None
    if own_limit:
        SyncRun.objects.filter(pk=run.pk).update(attempts=F("attempts") - 1)
        run.attempts -= 1
    if exc.retryable and (own_limit or run.attempts < settings.SYNC_MAX_ATTEMPTS):
        delay = retry_delay(run.attempts, exc.retry_after)
        _schedule_retry(run, exc, delay)
        log.info("sync run=%s retry in %.1fs after %s", run.public_id, delay, exc.category)
        return Outcome("retry", retry_in=delay)
    run_fail(run=run, category=exc.category.value, message=exc.message)
    log.info("sync run=%s failed: %s", run.public_id, exc.category)
    return Outcome("failed")


def _schedule_retry(run: SyncRun, exc: ProviderError, delay: float) -> None:
    SyncRun.objects.filter(pk=run.pk, status__in=SyncRun.ACTIVE).update(
        status=SyncRun.Status.QUEUED,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        error_category=exc.category.value,
        error_message=f"{exc.message} — retrying (attempt {run.attempts + 1} "
        f"of {settings.SYNC_MAX_ATTEMPTS}).",
    )


def sync_timed_out(*, run_public_id: str) -> Outcome:
    """End a run whose task hit its soft time limit."""
    run = SyncRun.objects.filter(public_id=run_public_id).first()
    if run is not None:
        run_fail(
            run=run,
            category=ErrorCategory.TIMEOUT,
            message=f"The sync took longer than {settings.SYNC_TASK_TIME_LIMIT - 30} s.",
        )
    return Outcome("failed")


def sync_give_up(*, run_public_id: str) -> Outcome:
    """End a run waiting for a retry that nobody will make (tasks run in-process, and the
    inline retry budget is spent), keeping the last error it recorded."""
    run = SyncRun.objects.get(public_id=run_public_id)
    run_fail(
        run=run,
        category=run.error_category or ErrorCategory.UNAVAILABLE,
        message=(run.error_message.split(" — retrying")[0] or "Provider unavailable")
        + " (gave up: tasks run in-process, without a worker to retry later).",
    )
    return Outcome("failed")
