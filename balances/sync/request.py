"""Asking for a run: at most one queued or running run per service (a database constraint
decides), its task queued once the transaction commits."""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.db import IntegrityError, transaction

from balances.models import SyncRun
from core.errors import Conflict, NotAllowed
from services.models import Service

# The task that executes a run, by name: balances.tasks imports the sync steps, not the
# other way round.  BalancesConfig.ready() registers it in every process.
SYNC_TASK = "balances.tasks.sync_service"


class SyncAlreadyRunning(Conflict):
    code = "sync_already_running"

    def __init__(self, run: SyncRun) -> None:
        super().__init__(
            f"A sync of this service is already {run.status} ({run.public_id}).",
            details={"syncRunId": run.public_id, "status": run.status},
        )
        self.run = run


def _enqueue(run: SyncRun, countdown: float | None = None) -> None:
    # The service id rides along so that the worker can take the service's lock without a
    # query first.
    args = (run.public_id, run.service_id)

    def send() -> None:
        task = current_app.tasks[SYNC_TASK]
        if countdown:
            task.apply_async(args=args, countdown=countdown)
        else:
            task.apply_async(args=args)

    transaction.on_commit(send)


def active_run(service: Service) -> SyncRun | None:
    return SyncRun.objects.filter(service=service, status__in=SyncRun.ACTIVE).first()


@transaction.atomic
def sync_request(
    *, service: Service, trigger: str, user: Any = None, countdown: float | None = None
) -> SyncRun:
    """Queue a run of ``service``; the task starts after commit.  Raises
    ``SyncAlreadyRunning`` when one is queued or running (the database constraint decides)."""
    connection = service.provider_connection_or_none
    if connection is None:
        raise NotAllowed(
            f"{service.public_id} has no provider connection to synchronise with.",
            code="no_provider",
        )
    if trigger not in SyncRun.Trigger.values:
        raise ValueError(f"unknown trigger {trigger!r}")
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
