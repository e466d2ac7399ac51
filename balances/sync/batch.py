"""Executing a batch of runs (the scheduler's, one provider kind per batch) in one task.

A fleet sync is thousands of runs an interval, each mostly waiting for its provider: one
Celery message per run costs more worker CPU than the run's own work.  A batch is one
message: its fetches run concurrently in a small thread pool (``SYNC_BATCH_THREADS``, HTTP
only, no database), and each fetched snapshot is applied in this thread, in its own
transaction, as soon as it arrives, exactly as a single run's (``execute.fetch_and_apply``).

Every guarantee of a single run holds per service: its lock (a service another worker holds
is handed back, ``busy``), one active run (the runs were created one by one), the shared
provider rate limit (a slot taken before each request), the deadline (the batch's, which the lock
outlives), retries with backoff for that service alone (the caller queues a single-run task
for each ``retry`` or ``busy`` outcome), the failure count and pause (``run_fail``), and
redelivery safety (an ended run is left alone; a running one is resumed).
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from django.conf import settings

from balances import locks
from balances.connections.actions import connection_config
from balances.models import SyncRun
from balances.providers import budget, http
from balances.providers.base import ConnectionConfig, ErrorCategory, Snapshot, get_adapter
from balances.sync import execute, failures
from balances.sync.schedule import run_fail
from core.crypto import CredentialsUnreadable
from core.observability import context as log_context
from core.redis import RedisError
from services.models import ProviderConnection

log = logging.getLogger(__name__)

Item = tuple[str, int]  # (run public id, service id), as in the task's message


@dataclass
class _Ready:
    """A run claimed for this batch, about to be fetched."""

    run: SyncRun
    connection: ProviderConnection
    config: ConnectionConfig
    versions: dict[str, int]


def sync_execute_batch(*, items: Sequence[Item]) -> dict[str, execute.Outcome]:
    """Execute the runs of ``items``; returns each run's outcome by public id."""
    outcomes: dict[str, execute.Outcome] = {}
    tokens = _take_locks(items, outcomes)
    deadline = time.monotonic() + execute.sync_deadline_seconds()
    try:
        # The fetches of the batch reuse their HTTP clients (and kept-alive connections).
        with budget.until(deadline), http.kept_clients():
            ready = _claim(items, tokens, outcomes)
            _fetch_and_apply_all(ready, deadline, outcomes)
    finally:
        _release_locks(tokens)
    return outcomes


def _take_locks(items: Sequence[Item], outcomes: dict[str, execute.Outcome]) -> dict[int, str]:
    """The lock of each service (one Redis call for the batch); a service someone else holds
    is ``busy`` (retried alone)."""
    names = [locks.service_lock_name(service_id) for _run_id, service_id in items]
    try:
        taken = locks.acquire_many(names, settings.SYNC_LOCK_TTL_SECONDS)
    except RedisError as exc:
        for run_public_id, _service_id in items:
            outcomes[run_public_id] = execute.fail_unexpected(
                run_public_id, exc, failures.BEFORE_FETCH
            )
        return {}
    tokens: dict[int, str] = {}
    for (run_public_id, service_id), name, token in zip(items, names, taken, strict=True):
        if token is None:
            outcomes[run_public_id] = execute.Outcome(
                "busy", retry_in=max(1.0, execute.lock_remaining(name))
            )
        else:
            tokens[service_id] = token
    return tokens


def _release_locks(tokens: dict[int, str]) -> None:
    try:
        locks.release_many(
            [(locks.service_lock_name(service_id), token) for service_id, token in tokens.items()]
        )
    except RedisError as exc:
        # The locks free themselves at their TTL; the runs have ended either way.
        log.warning("sync locks of %d services not released (%s)", len(tokens), type(exc).__name__)


def _claim(
    items: Sequence[Item], tokens: dict[int, str], outcomes: dict[str, execute.Outcome]
) -> list[_Ready]:
    """Mark the locked runs running (one statement for the batch) and read their
    configurations; a run that already ended is ``finished``."""
    mine = [(run_id, service_id) for run_id, service_id in items if service_id in tokens]
    if not mine:
        return []
    claimed = {run.public_id: (run, versions) for run, versions in execute.mark_running(mine)}
    ready = []
    for run_id, _service_id in mine:
        if run_id not in claimed:
            outcomes[run_id] = execute.Outcome("finished")
            continue
        run, versions = claimed[run_id]
        prepared = _prepare(run, versions, outcomes)
        if prepared is not None:
            ready.append(prepared)
    return ready


def _prepare(
    run: SyncRun, versions: dict[str, int], outcomes: dict[str, execute.Outcome]
) -> _Ready | None:
    connection = run.service.provider_connection_or_none
    try:
        if connection is None:
            run_fail(
                run=run,
                category=ErrorCategory.CONFIGURATION,
                message="The provider connection was removed.",
            )
            outcomes[run.public_id] = execute.Outcome("failed")
            return None
        try:
            config = connection_config(connection)
        except CredentialsUnreadable as exc:
            run_fail(run=run, category=ErrorCategory.CONFIGURATION, message=str(exc))
            outcomes[run.public_id] = execute.Outcome("failed")
            return None
    except Exception as exc:  # the run must not stay "running"
        outcomes[run.public_id] = execute.fail_unexpected(run.public_id, exc, failures.BEFORE_FETCH)
        return None
    return _Ready(run, connection, config, versions)


def _fetch_in_thread(ready: _Ready) -> Snapshot | Exception:
    with log_context.bound(sync_run_id=ready.run.public_id, service_id=ready.run.service_id):
        return execute.fetch(get_adapter(ready.connection.kind), ready.config)


def _fetch_and_apply_all(
    ready: list[_Ready], deadline: float, outcomes: dict[str, execute.Outcome]
) -> None:
    """Fetch concurrently; apply each snapshot here, in its own transaction, as it comes."""
    if not ready:
        return
    threads = max(1, min(settings.SYNC_BATCH_THREADS, len(ready)))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sync-fetch") as pool:
        # Each fetch runs in a copy of this context: the budget's deadline and the log fields.
        futures: dict[Future[Snapshot | Exception], _Ready] = {
            pool.submit(contextvars.copy_context().run, _fetch_in_thread, item): item
            for item in ready
        }
        for future in as_completed(futures):
            item = futures[future]
            outcomes[item.run.public_id] = _apply_one(item, future.result(), deadline)


def _apply_one(item: _Ready, fetched: Snapshot | Exception, deadline: float) -> execute.Outcome:
    run = item.run
    with log_context.bound(sync_run_id=run.public_id, service_id=run.service_id):
        try:
            return execute.fetch_and_apply(
                run, item.connection, item.config, deadline, item.versions, fetched=fetched
            )
        except Exception as exc:  # anything at all: this run ends, the batch goes on
            return execute.run_ended_by(run.public_id, exc)
