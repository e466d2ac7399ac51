"""Asking for a run: at most one queued or running run per service (a database constraint
decides), its task queued once the run's row is committed.

A run is never left ``queued`` without a task to execute it: when the task queue (Redis)
cannot be reached, nothing is created (``QueueUnavailable``, 503, checked before the run is
created) or the run is withdrawn again (the publish failed after it was created), and the
same request can be sent again as soon as Redis is back.  With in-process tasks there is no
broker: the task runs when the run is committed.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from balances.models import SyncRun
from balances.sync import failures
from core import redis as shared_redis
from core.errors import Conflict, NotAllowed, ServiceUnavailable
from services.models import Service

log = logging.getLogger(__name__)

# The task that executes a run, by name: balances.tasks imports the sync steps, not the
# other way round.  BalancesConfig.ready() registers it in every process.
SYNC_TASK = "balances.tasks.sync_service"
# The task that executes a batch of runs of one provider kind (balances/sync/batch.py).
SYNC_BATCH_TASK = "balances.tasks.sync_batch"

# What a broker that cannot be reached raises on publish.
PUBLISH_ERRORS = (KombuOperationalError, shared_redis.RedisError, ConnectionError, TimeoutError)
# Two quick retries (a blip), then the request is refused rather than kept waiting.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
                        "interval_max": 0.2}  # fmt: skip


class SyncAlreadyRunning(Conflict):
    code = "sync_already_running"

    def __init__(self, run: SyncRun) -> None:
        super().__init__(
            f"A sync of this service is already {run.status} ({run.public_id}).",
            details={"syncRunId": run.public_id, "status": run.status},
        )
        self.run = run


class QueueUnavailable(ServiceUnavailable):
    """The task queue (Redis) cannot be reached: no run was left behind."""

    def __init__(self) -> None:
        super().__init__(
            "Balance updates are unavailable right now (the task queue cannot be reached); "
            "try again in a minute."
        )


def _queue_reachable() -> bool:
    """Whether Redis answers, when syncs need it (the broker, and the per-service lock)."""
    if not settings.USE_REDIS:
        return True
    try:
        shared_redis.client().ping()
    except shared_redis.RedisError as exc:
        log.warning("sync refused: Redis unreachable (%s)", type(exc).__name__)
        return False
    return True


def _withdraw(run: SyncRun) -> bool:
    """Delete ``run`` when no worker has touched it; False when one already has (the message
    got through after all, and the run goes on)."""
    untouched = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED, attempts=0)
    deleted, _ = untouched.delete()
    return bool(deleted)


def _enqueue(run: SyncRun, countdown: float | None = None) -> None:
    # The service id rides along so that the worker can take the service's lock without a
    # query first.
    _publish(SYNC_TASK, (run.public_id, run.service_id), [run], countdown)


def _enqueue_batch(runs: list[SyncRun], countdown: float | None = None) -> None:
    items = [(run.public_id, run.service_id) for run in runs]
    _publish(SYNC_BATCH_TASK, (items,), runs, countdown)


def _publish(
    task_name: str, args: tuple[Any, ...], runs: list[SyncRun], countdown: float | None
) -> None:
    def send() -> None:
        task = current_app.tasks[task_name]
        options: dict[str, Any] = {"retry": True, "retry_policy": PUBLISH_RETRY_POLICY}
        if countdown:
            options["countdown"] = countdown
        try:
            task.apply_async(args=args, **options)
        except PUBLISH_ERRORS as exc:
            log.warning(
                "sync run=%s not queued: %s",
                ",".join(r.public_id for r in runs),
                type(exc).__name__,
            )
            withdrawn = [_withdraw(run) for run in runs]
            if any(withdrawn):
                raise QueueUnavailable() from None
        except Exception as exc:
            # A bug, not the provider: the runs end at once (not counted as the connection's
            # failure) so that the next request is not refused as "already queued".
            failure = failures.InternalFailure.of(exc, failures.QUEUE)
            for run in runs:
                failures.log_unexpected(f"sync run={run.public_id}", failure, exc)
            SyncRun.objects.filter(pk__in=[r.pk for r in runs], status__in=SyncRun.ACTIVE).update(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                error_category=failures.INTERNAL_CATEGORY,
                error_message=failure.message,
            )
            raise

    # Published once the runs' rows are committed (at once when there is no transaction
    # around), so that a worker never looks for a run it cannot see yet.  A failure to
    # publish withdraws the runs and raises QueueUnavailable out of the commit.
    transaction.on_commit(send)


def active_run(service: Service) -> SyncRun | None:
    return SyncRun.objects.filter(service=service, status__in=SyncRun.ACTIVE).first()


def sync_request(
    *, service: Service, trigger: str, user: Any = None, countdown: float | None = None
) -> SyncRun:
    """Queue a run of ``service``; the task starts after commit.  Raises
    ``SyncAlreadyRunning`` when one is queued or running (the database constraint decides),
    ``QueueUnavailable`` when the task queue cannot be reached (no run is left behind)."""
    if trigger not in SyncRun.Trigger.values:
        raise ValueError(f"unknown trigger {trigger!r}")
    _check_connection(service)
    if not _queue_reachable():
        raise QueueUnavailable()
    run = _create_run(service=service, trigger=trigger, user=user)
    _enqueue(run, countdown)
    return run


def batching() -> bool:
    """Whether many runs go out as batches (``SYNC_BATCH_SIZE`` > 1, tasks on workers)."""
    return settings.SYNC_BATCH_SIZE > 1 and not settings.CELERY_TASK_ALWAYS_EAGER


def sync_request_many(
    *, services: list[Service], trigger: str, jitter: float = 0.0
) -> list[SyncRun]:
    """Queue a run of each of ``services`` (one already syncing, or without a connection, is
    skipped), published as batches of at most ``SYNC_BATCH_SIZE`` runs of one provider kind,
    each batch after a random delay up to ``jitter`` seconds.  Without batching, one task per
    run.  Raises ``QueueUnavailable`` when the task queue cannot be reached (no run is left
    behind)."""
    if trigger not in SyncRun.Trigger.values:
        raise ValueError(f"unknown trigger {trigger!r}")
    if not _queue_reachable():
        raise QueueUnavailable()
    runs = []
    for service in services:
        try:
            _check_connection(service)
            runs.append(_create_run(service=service, trigger=trigger, user=None))
        except (NotAllowed, Conflict):
            continue
    size = settings.SYNC_BATCH_SIZE if batching() else 1
    by_kind: dict[str, list[SyncRun]] = {}
    for run in runs:
        by_kind.setdefault(run.provider_kind, []).append(run)
    for group in by_kind.values():
        for start in range(0, len(group), size):
            delay = random.uniform(0, jitter) if jitter > 0 else None
            chunk = group[start : start + size]
            if size == 1:
                _enqueue(chunk[0], delay)
            else:
                _enqueue_batch(chunk, delay)
    return runs


def _check_connection(service: Service) -> None:
    if service.provider_connection_or_none is None:
        raise NotAllowed(
            f"{service.public_id} has no provider connection to synchronise with.",
            code="no_provider",
        )


def _create_run(*, service: Service, trigger: str, user: Any) -> SyncRun:
    connection = service.provider_connection_or_none
    assert connection is not None
    try:
        with transaction.atomic():
            return SyncRun.objects.create(
                service=service,
                provider_kind=connection.kind,
                trigger=trigger,
                requested_by=user if user is not None and user.is_authenticated else None,
            )
    except IntegrityError:
        running = active_run(service)
        if running is None:  # finished in between: the caller may simply ask again
            raise Conflict("A sync of this service just finished; try again.") from None
        raise SyncAlreadyRunning(running) from None
