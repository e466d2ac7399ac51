"""Synchronisation with the provider: request a run, execute it, apply the snapshot.

The fetch happens outside any transaction; ``snapshot_apply`` then locks the service's balance
rows and writes everything (balances, history, the run's result, the connection's state) in one
transaction.  Marking the run succeeded in that same transaction is what makes a redelivered
task harmless: it finds the run finished and does nothing.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from balances import locks
from balances.models import Balance, BalanceChange, SyncRun
from balances.providers.base import ErrorCategory, ProviderError, Snapshot, get_adapter
from balances.sync_plan import CREATE, UNCHANGED, UPDATE, Plan, plan_snapshot
from core.actors import Actor, ActorType
from core.crypto import CredentialsUnreadable
from core.errors import Conflict, NotAllowed
from services.models import ProviderConnection, Service, provider_label

log = logging.getLogger(__name__)

CONFLICT_CATEGORY = "conflict"
ABANDONED_CATEGORY = "abandoned"
MAX_FETCH_ROUNDS = 3  # re-fetches when an operator edit lands during the fetch


class SyncAlreadyRunning(Conflict):
    code = "sync_already_running"

    def __init__(self, run: SyncRun) -> None:
        super().__init__(
            f"A sync of this service is already {run.status} ({run.public_id}).",
            details={"syncRunId": run.public_id, "status": run.status},
        )
        self.run = run


class ConcurrentEdit(Exception):
    """A balance changed between the fetch and the apply."""

    def __init__(self, currencies: list[str], by: list[str]) -> None:
        super().__init__(", ".join(currencies))
        self.currencies = currencies
        self.by = by


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | failed | retry | busy | finished
    retry_in: float | None = None


# --- requesting ---------------------------------------------------------------------------


def _enqueue(run: SyncRun, countdown: float | None = None) -> None:
    from balances.tasks import sync_service

    # The service id rides along so that the worker can take the service's lock without a
    # query first.
    args = [run.public_id, run.service_id]
    if countdown:
        transaction.on_commit(lambda: sync_service.apply_async(args=args, countdown=countdown))
    else:
        transaction.on_commit(lambda: sync_service.apply_async(args=args))


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


# --- executing ----------------------------------------------------------------------------


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


def _expected_versions(service_id: int) -> dict[str, int]:
    return dict(Balance.objects.filter(service_id=service_id).values_list("currency", "version"))


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
    if not updated:
        return run
    connection = (
        ProviderConnection.objects.select_for_update().filter(service_id=run.service_id).first()
    )
    if connection is not None:
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
    return run


def _schedule_retry(run: SyncRun, exc: ProviderError, delay: float) -> None:
    SyncRun.objects.filter(pk=run.pk, status__in=SyncRun.ACTIVE).update(
        status=SyncRun.Status.QUEUED,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        error_category=exc.category.value,
        error_message=f"{exc.message} — retrying (attempt {run.attempts + 1} "
        f"of {settings.SYNC_MAX_ATTEMPTS}).",
    )


def sync_execute(*, run_public_id: str, service_id: int | None = None) -> Outcome:
    """Run one sync: lock the service, fetch (no transaction), apply (one transaction).

    Idempotent: a run that already ended is left alone; a run another worker is executing is
    reported ``busy`` (the caller retries later).  ``service_id`` comes with the task so that
    the lock is taken without a query; without it, it is looked up.
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
    from balances.connections.actions import connection_config

    try:
        config = connection_config(connection)
    except CredentialsUnreadable as exc:
        run_fail(run=run, category=ErrorCategory.CONFIGURATION, message=str(exc))
        return Outcome("failed")
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


# --- applying -----------------------------------------------------------------------------


@transaction.atomic
def snapshot_apply(
    *,
    run: SyncRun,
    connection: ProviderConnection,
    snapshot: Snapshot,
    expected_versions: dict[str, int] | None = None,
) -> Plan:
    """Apply ``snapshot`` to the service's balances, all or nothing, and finish ``run``.

    The service's balance rows are locked first.  If one of them changed since
    ``expected_versions`` were read (an operator edit that landed during the fetch),
    ``ConcurrentEdit`` is raised and nothing is written: the caller fetches again, so a manual
    edit is never silently overwritten by an older snapshot.  The number of queries does not
    depend on the number of currencies.
    """
    now = timezone.now()
    locked = list(
        Balance.objects.select_for_update().filter(service_id=run.service_id).order_by("currency")
    )  # query: lock the balances
    if expected_versions is not None:
        moved = [b for b in locked if expected_versions.get(b.currency) != b.version]
        if moved:
            raise ConcurrentEdit(
                [b.currency for b in moved], sorted({b.updated_by_label for b in moved})
            )
    plan = plan_snapshot(
        balances=locked,
        snapshot=snapshot,
        provider_label=provider_label(connection.kind),
        create_missing=connection.create_missing_balances,
    )
    actor = Actor.for_sync(run)
    by_currency = {b.currency: b for b in locked}
    changed: list[Balance] = []
    confirmed: list[int] = []
    history: list[BalanceChange] = []
    for entry in plan.entries:
        if entry.action == UNCHANGED:
            confirmed.append(by_currency[entry.currency].pk)
        elif entry.action == UPDATE:
            balance = by_currency[entry.currency]
            assert entry.new is not None
            balance.available, balance.pending, balance.reserved = (
                entry.new.available,
                entry.new.pending,
                entry.new.reserved,
            )
            balance.version += 1
            balance.updated_at = now
            balance.updated_by_type = ActorType.SYNC
            balance.updated_by_label = actor.label
            balance.last_synced_at = now
            changed.append(balance)
            history.append(_history(run, actor, balance, entry, BalanceChange.Kind.SYNCED, now))
    if changed:
        _update_changed(changed, now=now, label=actor.label)  # query: one statement
    if confirmed:
        Balance.objects.filter(pk__in=confirmed).update(last_synced_at=now)  # query: still true
    created = [
        Balance(
            service_id=run.service_id,
            currency=e.currency,
            available=e.new.available,
            pending=e.new.pending,
            reserved=e.new.reserved,
            updated_at=now,
            updated_by_type=ActorType.SYNC,
            updated_by_label=actor.label,
            last_synced_at=now,
        )
        for e in plan.with_action(CREATE)
        if e.new is not None
    ]
    if created:
        Balance.objects.bulk_create(created)  # query: new balances (ids come back on PostgreSQL)
        if any(b.pk is None for b in created):  # SQLite before RETURNING support
            ids = dict(
                Balance.objects.filter(
                    service_id=run.service_id, currency__in=[b.currency for b in created]
                ).values_list("currency", "pk")
            )
            for b in created:
                b.pk = ids[b.currency]
        entries = {e.currency: e for e in plan.with_action(CREATE)}
        history.extend(
            _history(run, actor, b, entries[b.currency], BalanceChange.Kind.CREATED, now)
            for b in created
        )
    if history:
        BalanceChange.objects.bulk_create(history)  # query: history of what changed
    counts = plan.counts
    run.status = SyncRun.Status.SUCCEEDED
    run.finished_at = now
    run.updated_count = counts["updated"]
    run.unchanged_count = counts["unchanged"]
    run.created_count = counts["created"]
    run.skipped_count = counts["skipped"]
    run.not_reported_count = counts["notReported"]
    run.result = plan.as_result(taken_at=snapshot.taken_at.isoformat())
    run.error_category = ""
    run.error_message = ""
    run.save(
        update_fields=[
            "status",
            "finished_at",
            "updated_count",
            "unchanged_count",
            "created_count",
            "skipped_count",
            "not_reported_count",
            "result",
            "error_category",
            "error_message",
        ]
    )  # query: finish the run
    resume = run.trigger != SyncRun.Trigger.SCHEDULE
    fields: dict[str, Any] = {"last_success_at": now, "consecutive_failures": 0, "updated_at": now}
    if resume:  # an operator's successful run shows the connection works again
        fields.update(paused_at=None, paused_reason="")
    ProviderConnection.objects.filter(pk=connection.pk).update(**fields)  # query: connection state
    return plan


_CHANGED_FIELDS = [
    "available",
    "pending",
    "reserved",
    "version",
    "updated_at",
    "updated_by_type",
    "updated_by_label",
    "last_synced_at",
]


def _update_changed(changed: list[Balance], *, now: Any, label: str) -> None:
    """Write the changed balances in one statement.  On PostgreSQL an UPDATE … FROM (VALUES …)
    costs a tenth of the CPU of Django's bulk_update (a CASE per column and row)."""
    if db_connection.vendor != "postgresql":
        Balance.objects.bulk_update(changed, _CHANGED_FIELDS)
        return
    table = db_connection.ops.quote_name(Balance._meta.db_table)
    row = "(%s::bigint, %s::numeric, %s::numeric, %s::numeric, %s::integer)"
    values: list[Any] = []
    for b in changed:
        values += [b.pk, b.available, b.pending, b.reserved, b.version]
    sql = (
        f"UPDATE {table} AS b SET available = v.available, pending = v.pending, "  # noqa: S608 - names are ours
        "reserved = v.reserved, version = v.version, updated_at = %s, "
        "updated_by_type = %s, updated_by_label = %s, last_synced_at = %s "
        f"FROM (VALUES {', '.join([row] * len(changed))}) "
        "AS v(id, available, pending, reserved, version) WHERE b.id = v.id"
    )
    with db_connection.cursor() as cursor:
        cursor.execute(sql, [now, ActorType.SYNC, label, now, *values])


def _history(run, actor, balance, entry, kind, now) -> BalanceChange:
    old, new = entry.old, entry.new
    note = entry.note
    if entry.replaced_manual:
        note = (note + "; " if note else "") + (
            f"replaced the value set by hand by {entry.replaced_manual['by']}"
        )
    return BalanceChange(
        service_id=run.service_id,
        balance_id=balance.pk,
        currency=balance.currency,
        kind=kind,
        old_available=old.available if old else None,
        new_available=new.available if new else None,
        old_pending=old.pending if old else None,
        new_pending=new.pending if new else None,
        old_reserved=old.reserved if old else None,
        new_reserved=new.reserved if new else None,
        version=balance.version,
        reason=note,
        created_at=now,
        **actor.history_fields(),
    )
