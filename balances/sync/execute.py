"""Executing a run (the task's work): take the service's lock, fetch outside any transaction,
hand the snapshot to ``snapshot_apply``, and decide what a provider error means: a retry with
backoff and jitter (retryable errors, within SYNC_MAX_ATTEMPTS) or the end of the run.

Idempotent: a run that already ended is left alone, and a run another worker holds the lock
for is reported ``busy`` (the task retries later).

Nothing leaves a run stuck: the task has a deadline of its own (``sync_deadline_seconds``),
checked between the steps and given to every provider request as its time budget, so it holds
on any Celery pool (the threads pool ignores Celery's time limits); past it the run fails as
``timeout``.  Any unexpected exception fails the run as ``internal`` (``failures.py``).  Either
way the service's lock is released and the next sync can start at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError
from django.db import connection as db_connection
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from balances import locks
from balances.connections.actions import connection_config
from balances.models import Balance, SyncRun
from balances.providers import budget
from balances.providers.base import (
    ConnectionConfig,
    ErrorCategory,
    ProviderAdapter,
    ProviderError,
    Snapshot,
    get_adapter,
)
from balances.sync import failures
from balances.sync.apply import ConcurrentEdit, snapshot_apply
from balances.sync.schedule import run_fail
from core import events, rawsql, sqlcombine
from core.crypto import CredentialsUnreadable
from core.redis import RedisError
from services.models import ProviderConnection, Service

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


def sync_deadline_seconds() -> float:
    """How long one execution of a sync may take: ``SYNC_TASK_TIME_LIMIT``, kept below the
    lock's TTL (by a tenth of it, at most 30 s) so that the lock never expires under a sync
    that is still working."""
    ttl = float(settings.SYNC_LOCK_TTL_SECONDS)
    return max(0.0, min(float(settings.SYNC_TASK_TIME_LIMIT), ttl - min(30.0, ttl / 10)))


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
    try:
        token = locks.acquire(lock_name, settings.SYNC_LOCK_TTL_SECONDS)
    except RedisError as exc:
        return fail_unexpected(run_public_id, exc, failures.BEFORE_FETCH)
    if token is None:
        return Outcome("busy", retry_in=max(1.0, lock_remaining(lock_name)))
    deadline = time.monotonic() + sync_deadline_seconds()
    try:
        with budget.until(deadline):
            return _execute_locked(run_public_id, service_id, deadline)
    except Exception as exc:  # anything at all: the run must not stay "running"
        return run_ended_by(run_public_id, exc)
    finally:
        release_lock(lock_name, token)


def run_ended_by(run_public_id: str, exc: Exception) -> Outcome:
    """What an exception nobody handled does to the run: it fails, never stays running."""
    if SoftTimeLimitExceeded in (type(exc), type(exc.__cause__)):
        return sync_timed_out(run_public_id=run_public_id)  # Celery's backstop (prefork)
    return fail_unexpected(run_public_id, exc, failures.BEFORE_FETCH)


def lock_remaining(lock_name: str) -> float:
    try:
        return locks.remaining(lock_name)
    except RedisError:
        return settings.SYNC_RETRY_BASE_SECONDS


def release_lock(lock_name: str, token: str) -> None:
    try:
        locks.release(lock_name, token)
    except RedisError as exc:
        # The lock frees itself at its TTL; the run has ended either way.
        log.warning("sync lock %s not released (%s)", lock_name, type(exc).__name__)


def fail_unexpected(run_public_id: str, exc: Exception, step: str) -> Outcome:
    """End the run as failed (``internal``) after an exception nobody expected, keeping its
    text out of the message (see failures.py)."""
    failure = failures.InternalFailure.of(exc, step)
    failures.log_unexpected(f"sync run={run_public_id}", failure, exc)
    database = isinstance(exc, DatabaseError) or isinstance(exc.__cause__, DatabaseError)
    if database and not db_connection.in_atomic_block:
        # A connection broken by a database restart stays broken until it is closed; outside
        # a transaction, closing it makes the next query reconnect.
        db_connection.close()
    try:
        run = SyncRun.objects.filter(public_id=run_public_id).first()
        if run is not None:
            run_fail(run=run, category=failures.INTERNAL_CATEGORY, message=failure.message)
    except DatabaseError:
        log.exception(
            "sync run=%s: could not record its failure; the reaper will close it", run_public_id
        )
    return Outcome("failed")


def _deadline_passed(run: SyncRun, deadline: float) -> bool:
    """Fail ``run`` as timed out when its deadline has passed (checked between steps)."""
    if time.monotonic() < deadline:
        return False
    run_fail(
        run=run,
        category=ErrorCategory.TIMEOUT,
        message=f"The sync did not finish within its time limit of "
        f"{sync_deadline_seconds():g} s; nothing was changed.",
    )
    log.info("sync run=%s failed: deadline passed", run.public_id)
    return True


def _execute_locked(run_public_id: str, service_id: int, deadline: float) -> Outcome:
    claimed = _mark_running(run_public_id, service_id)
    if claimed is None:
        return Outcome("finished")
    run, expected = claimed
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
    return fetch_and_apply(run, connection, config, deadline, expected)


Claimed = tuple[SyncRun, dict[str, int]]


def _mark_running(run_public_id: str, service_id: int) -> Claimed | None:
    claimed = mark_running([(run_public_id, service_id)])
    return claimed[0] if claimed else None


def mark_running(pairs: Sequence[tuple[str, int]]) -> list[Claimed]:
    """Move the queued (or interrupted running) runs of ``pairs`` (run public id, service
    id: both must match) to running and load each with its service, its connection and its
    balances' versions (read before the fetch: see ``snapshot_apply``); the runs that already
    ended are not returned.  One statement on PostgreSQL."""
    if not pairs:
        return []
    now = timezone.now()
    if db_connection.vendor != "postgresql":
        return _mark_running_orm(pairs, now)
    # query: mark running, returning the runs, their services, connections and balances
    with db_connection.cursor() as cursor:
        cursor.execute(
            _claim_sql(len(pairs)),
            [
                SyncRun.Status.RUNNING,
                now,
                *SyncRun.ACTIVE,
                *(value for pair in pairs for value in pair),
            ],
        )
        rows = cursor.fetchall()
    run_width, service_width, connection_width = _claim_widths()
    result = []
    for row in rows:
        run = rawsql.loaded(SyncRun, row[:run_width])
        service = rawsql.loaded(Service, row[run_width : run_width + service_width])
        rest = row[run_width + service_width :]
        connection = (
            None if rest[0] is None else rawsql.loaded(ProviderConnection, rest[:connection_width])
        )
        # As select_related("service", "service__provider_connection") leaves them.
        SyncRun.service.field.set_cached_value(run, service)
        ProviderConnection.service.field.remote_field.set_cached_value(service, connection)
        if connection is not None:
            ProviderConnection.service.field.set_cached_value(connection, service)
        pairs_text = (pair.rsplit(":", 1) for pair in rest[connection_width] or ())
        result.append((run, {currency: int(version) for currency, version in pairs_text}))
    return result


@cache
def _claim_widths() -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        len(model._meta.concrete_fields) for model in (SyncRun, Service, ProviderConnection)
    )


@cache
def _claim_sql(count: int) -> str:
    """The claim, written by hand (PostgreSQL): it runs for every batch and every single run,
    and the ORM took longer to build it (and to load its rows) than PostgreSQL to run it.
    Identifiers from the models, quoted; every value is a parameter."""
    q = db_connection.ops.quote_name
    runs, services = q(SyncRun._meta.db_table), q(Service._meta.db_table)
    connections, balances = q(ProviderConnection._meta.db_table), q(Balance._meta.db_table)
    pairs = ", ".join(["(%s, %s)"] * count)
    return (
        f"WITH claimed AS (UPDATE {runs} SET {q('status')} = %s, "  # noqa: S608
        f"{q('started_at')} = COALESCE({q('started_at')}, %s), "
        f"{q('attempts')} = {q('attempts')} + 1, {q('next_attempt_at')} = NULL "
        f"WHERE {q('status')} IN (%s, %s) AND ({q('public_id')}, {q('service_id')}) IN ({pairs}) "
        "RETURNING *) "
        f"SELECT {rawsql.columns(SyncRun, None, alias='r')}, "
        f"{rawsql.columns(Service, None, alias='s')}, "
        f"{rawsql.columns(ProviderConnection, None, alias='c')}, "
        f"ARRAY(SELECT b.{q('currency')} || ':' || CAST(b.{q('version')} AS text) "
        f"FROM {balances} b WHERE b.{q('service_id')} = r.{q('service_id')}) "
        f"FROM claimed r JOIN {services} s ON s.{q('id')} = r.{q('service_id')} "
        f"LEFT JOIN {connections} c ON c.{q('service_id')} = r.{q('service_id')}"
    )


def _mark_running_orm(pairs: Sequence[tuple[str, int]], now: datetime) -> list[Claimed]:
    """``mark_running`` on other databases (SQLite, the embedded default): update, then read
    (core/sqlcombine.claim), and the versions a query per run."""
    which = Q()
    for run_public_id, service_id in pairs:
        which |= Q(public_id=run_public_id, service_id=service_id)
    claimed = sqlcombine.claim(
        SyncRun.objects.filter(which, status__in=SyncRun.ACTIVE),
        {
            "status": SyncRun.Status.RUNNING,
            "started_at": Coalesce(F("started_at"), Value(now)),
            "attempts": F("attempts") + 1,
            "next_attempt_at": None,
        },
        SyncRun.objects.select_related("service", "service__provider_connection"),
        returning=("status", "started_at", "attempts", "next_attempt_at"),
    )
    return [(run, _expected_versions(run.service_id)) for run in claimed]


def fetch(adapter: ProviderAdapter, config: ConnectionConfig) -> Snapshot | Exception:
    """The provider's snapshot, or what fetching it raised (a batch fetches in other
    threads and applies in its own)."""
    try:
        return adapter.fetch_snapshot(config)
    except Exception as exc:
        return exc


def fetch_and_apply(
    run: SyncRun,
    connection: ProviderConnection,
    config: ConnectionConfig,
    deadline: float,
    versions: dict[str, int],
    fetched: Snapshot | Exception | None = None,
) -> Outcome:
    """Fetch and apply; fetch again when an operator edit landed during the fetch (at most
    MAX_FETCH_ROUNDS times), so that a manual edit is never overwritten by an older read.
    ``fetched``: the first fetch's result, when it was made already (a batch)."""
    adapter = get_adapter(connection.kind)
    conflict: ConcurrentEdit | None = None
    expected: dict[str, int] | None = versions
    for _round in range(MAX_FETCH_ROUNDS):
        if fetched is None and _deadline_passed(run, deadline):
            return Outcome("failed")
        if expected is None:  # a re-fetch: read them again
            expected = _expected_versions(run.service_id)
        snapshot = fetch(adapter, config) if fetched is None else fetched
        fetched = None
        if isinstance(snapshot, ProviderError):
            if _deadline_passed(run, deadline):
                return Outcome("failed")
            return _handle_provider_error(run, snapshot)
        if isinstance(snapshot, Exception):
            raise failures.StepFailed(failures.FETCH) from snapshot
        if _deadline_passed(run, deadline):
            return Outcome("failed")
        try:
            # Every changed balance's after-commit listeners share their reads.
            with events.shared_reads():
                snapshot_apply(
                    run=run, connection=connection, snapshot=snapshot, expected_versions=expected
                )
        except ConcurrentEdit as exc:
            conflict, expected = exc, None
            log.info("sync run=%s re-fetching after concurrent edit of %s", run.public_id, exc)
            continue
        except Exception as exc:
            raise failures.StepFailed(failures.APPLY) from exc
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
            message=f"The sync did not finish within its time limit of "
            f"{sync_deadline_seconds():g} s.",
        )
    return Outcome("failed")


def sync_give_up(*, run_public_id: str) -> Outcome:
    """End a run waiting for a retry that nobody will make (tasks run in-process, and the
    inline retry budget is spent), keeping the last error it recorded."""
    run = SyncRun.objects.get(public_id=run_public_id)
    run_fail(
        run=run,
        category=run.error_category or ErrorCategory.UNAVAILABLE,
        message=(run.error_message.split(" — retrying")[0] or "Provider unavailable").rstrip(".")
        + ". No more attempts: no background worker is running to try again later.",
    )
    return Outcome("failed")
