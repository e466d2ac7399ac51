"""Readiness: can this deployment do its work now?  Database, Redis, workers, scheduler.

Each check answers within its timeout whatever the dependency does: the database and Redis
are asked in threads of their own, at the same time, and a check that has not answered by
``READINESS_TIMEOUT_SECONDS`` is reported ``timeout`` (its thread ends at its own socket or
statement timeout).  A hung dependency therefore makes a fast failure, never a hung probe.
The answers are fixed words: nothing about hosts, versions or errors is revealed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.db import connections, transaction
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.observability import heartbeats

log = logging.getLogger(__name__)

OK = "ok"
NOT_USED = "not used"
PASSING = frozenset({OK, NOT_USED})
UNREACHABLE = "unreachable"
TIMEOUT = "timeout"


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(value in PASSING for value in self.checks.values())

    def as_json(self) -> dict[str, Any]:
        return {"status": "ok" if self.ready else "unavailable", "checks": dict(self.checks)}

    def failing(self) -> dict[str, str]:
        return {k: v for k, v in self.checks.items() if v not in PASSING}


def timeout_seconds() -> float:
    return float(getattr(settings, "READINESS_TIMEOUT_SECONDS", 1.5))


def probe_client() -> redis.Redis:
    """A client for ``REDIS_URL`` that gives up soon after the readiness timeout, without
    retry (a little later than the probe's own deadline, which therefore decides: a hung
    server reads "timeout", a refused connection "unreachable")."""
    return _probe_client(settings.REDIS_URL, timeout_seconds() + 0.5)


@cache
def _probe_client(url: str, timeout: float) -> redis.Redis:
    # No retries: one attempt within the timeout is the question being asked.
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )


def reset_clients() -> None:
    _probe_client.cache_clear()


def _database() -> str:
    connection = connections["default"]
    try:
        with transaction.atomic(using="default"), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                millis = max(1, int(timeout_seconds() * 1000))
                cursor.execute(f"SET LOCAL statement_timeout = {millis}")
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        # A thread of its own: its connection must not outlive it.
        connection.close()
    return OK


def _redis() -> tuple[float | None, float | None]:
    """PING and the heartbeats, in one round trip."""
    pipe = probe_client().pipeline(transaction=False)
    pipe.ping()
    heartbeats.queue_reads(pipe)
    _pong, worker, scheduler = pipe.execute()
    return heartbeats.parse_reads(worker, scheduler)


def _started(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except Exception as exc:
            box["error"] = type(exc).__name__

    thread = threading.Thread(target=run, name="readiness-check", daemon=True)
    thread.start()
    return thread, box


def _result(thread: threading.Thread, box: dict[str, Any], deadline: float) -> tuple[str, Any]:
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        return TIMEOUT, None
    if "error" in box:
        return UNREACHABLE, box["error"]
    return OK, box.get("value")


def age_words(seconds: float) -> str:
    """``45 s``, ``5 min``, ``3 h``: how long ago, readable."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def workers_word(latest: float | None, now: float) -> str:
    limit = int(settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS)
    if latest is None or now - latest > limit:
        return f"none seen for {limit} s"
    return OK


def scheduler_word(latest: float | None, now: float) -> str:
    if latest is None:
        return "no tick seen"
    if now - latest > int(settings.SCHEDULER_HEARTBEAT_MAX_AGE_SECONDS):
        return f"last tick {age_words(now - latest)} ago"
    return OK


def readiness() -> Readiness:
    """Every check, at the same time, within ``READINESS_TIMEOUT_SECONDS``."""
    deadline = time.monotonic() + timeout_seconds()
    database = _started(_database)
    uses_redis = heartbeats.shared()
    shared = _started(_redis) if uses_redis else None

    db_state, db_detail = _result(*database, deadline)
    checks = {"database": db_state}
    if shared is None:
        checks["redis"] = NOT_USED
        latest_worker, latest_tick = heartbeats.memory_reads()
    else:
        redis_state, value = _result(*shared, deadline)
        checks["redis"] = redis_state
        latest_worker, latest_tick = value if redis_state == OK else (None, None)
        if redis_state != OK:
            log.warning("readiness: redis %s (%s)", redis_state, value or "no answer")
    if db_state != OK:
        log.warning("readiness: database %s (%s)", db_state, db_detail or "no answer")

    now = time.time()
    # The heartbeats live in Redis: without it nobody can tell.
    unknown = f"unknown: redis {checks['redis']}" if uses_redis and checks["redis"] != OK else ""
    if settings.TASKS_IN_PROCESS:
        checks["workers"] = OK  # tasks run in the process that answers this
    else:
        checks["workers"] = unknown or workers_word(latest_worker, now)
    checks["scheduler"] = unknown or scheduler_word(latest_tick, now)
    return Readiness(checks)
