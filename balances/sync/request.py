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
    args = (run.public_id, run.service_id)

    def send() -> None:
        task = current_app.tasks[SYNC_TASK]
        options: dict[str, Any] = {"retry": True, "retry_policy": PUBLISH_RETRY_POLICY}
        if countdown:
            options["countdown"] = countdown
        try:
            task.apply_async(args=args, **options)
        except PUBLISH_ERRORS as exc:
            log.warning("sync run=%s not queued: %s", run.public_id, type(exc).__name__)
            if _withdraw(run):
                raise QueueUnavailable() from None
        except Exception as exc:
            # A bug, not the provider: the run ends at once (not counted as the connection's
            # failure) so that the next request is not refused as "already queued".
            failure = failures.InternalFailure.of(exc, failures.QUEUE)
            failures.log_unexpected(f"sync run={run.public_id}", failure, exc)
            SyncRun.objects.filter(pk=run.pk, status__in=SyncRun.ACTIVE).update(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                error_category=failures.INTERNAL_CATEGORY,
                error_message=failure.message,
            )
            raise

    # Published once the run's row is committed (at once when there is no transaction
    # around), so that a worker never looks for a run it cannot see yet.  A failure to
    # publish withdraws the run and raises QueueUnavailable out of the commit.
    transaction.on_commit(send)


def active_run(service: Service) -> SyncRun | None:
    return SyncRun.objects.filter(service=service, status__in=SyncRun.ACTIVE).first()


def sync_request(
    *, service: Service, trigger: str, user: Any = None, countdown: float | None = None
) -> SyncRun:
    """Queue a run of ``service``; the task starts after commit.  Raises
    ``SyncAlreadyRunning`` when one is queued or running (the database constraint decides),
    ``QueueUnavailable`` when the task queue cannot be reached (no run is left behind)."""
    connection = service.provider_connection_or_none
    if connection is None:
        raise NotAllowed(
            f"{service.public_id} has no provider connection to synchronise with.",
            code="no_provider",
        )
    if trigger not in SyncRun.Trigger.values:
        raise ValueError(f"unknown trigger {trigger!r}")
    if not _queue_reachable():
        raise QueueUnavailable()
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
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
    _enqueue(run, countdown)
    return run
