"""Heartbeats: workers and the scheduler say "alive at T", readiness reads the latest.

In Redis when processes share it (``settings.USE_REDIS``): workers in a sorted set scored by
time (one member per worker host name, so the latest is one ``ZREVRANGE``), the scheduler in
one key, each with an expiry so that a deployment that stopped leaves nothing behind.  The
embedded default without Redis keeps them in this process's memory: its scheduler thread and
the web requests that ask for readiness live in the same process.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings

from core import redis as core_redis

log = logging.getLogger(__name__)

WORKERS_KEY = "heartbeat:workers"
SCHEDULER_KEY = "heartbeat:scheduler"
# Kept long after the thresholds, so that readiness can say how long ago the last one was.
RETENTION_SECONDS = 24 * 3600

_memory: dict[str, float] = {}
_memory_lock = threading.Lock()


def shared() -> bool:
    return bool(getattr(settings, "USE_REDIS", True))


def worker_beat(hostname: str, *, now: float | None = None, client: Any = None) -> None:
    """Worker ``hostname`` is alive (and consuming) now."""
    now = time.time() if now is None else now
    if not shared():
        with _memory_lock:
            _memory[WORKERS_KEY] = now
        return
    conn = client or core_redis.client()
    key = core_redis.key(WORKERS_KEY)
    pipe = conn.pipeline(transaction=False)
    pipe.zadd(key, {hostname: now})
    # Workers gone for a day are forgotten; the set never grows with restarts.
    pipe.zremrangebyscore(key, "-inf", now - RETENTION_SECONDS)
    pipe.expire(key, RETENTION_SECONDS)
    pipe.execute()


def scheduler_beat(*, now: float | None = None, client: Any = None) -> None:
    """The scheduler (beat, or the embedded default's thread) ticked now."""
    now = time.time() if now is None else now
    if not shared():
        with _memory_lock:
            _memory[SCHEDULER_KEY] = now
        return
    conn = client or core_redis.client()
    conn.set(core_redis.key(SCHEDULER_KEY), repr(now), ex=RETENTION_SECONDS)


def queue_reads(pipe: Any) -> None:
    """Add the reads of the latest heartbeats to ``pipe`` (see :func:`parse_reads`)."""
    pipe.zrevrange(core_redis.key(WORKERS_KEY), 0, 0, withscores=True)
    pipe.get(core_redis.key(SCHEDULER_KEY))


def parse_reads(worker: Any, scheduler: Any) -> tuple[float | None, float | None]:
    """(latest worker heartbeat, latest scheduler tick) as Unix times, None when never."""
    latest_worker = float(worker[0][1]) if worker else None
    latest_tick = float(scheduler) if scheduler is not None else None
    return latest_worker, latest_tick


def memory_reads() -> tuple[float | None, float | None]:
    with _memory_lock:
        return _memory.get(WORKERS_KEY), _memory.get(SCHEDULER_KEY)


def forget() -> None:
    """Drop what this process remembers (tests)."""
    with _memory_lock:
        _memory.clear()


class Pulse(threading.Thread):
    """Calls ``beat()`` every ``interval`` seconds until :meth:`stop` (a worker's heartbeat:
    a thread of its own, so that it beats on any pool, also while every slot is busy)."""

    def __init__(self, beat: Any, *, interval: float, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.beat = beat
        self.interval = interval
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.beat()
            except Exception as exc:  # Redis away: readiness will say so; keep beating
                log.warning("heartbeat not written (%s)", type(exc).__name__)
            self._stopping.wait(self.interval)

    def stop(self) -> None:
        self._stopping.set()
