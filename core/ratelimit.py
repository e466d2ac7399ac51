"""The one rate-window implementation: never more than ``limit`` hits in any window of
``seconds`` for one name.  Used by the providers' shared limits, the sandbox's simulated
provider limit and the API throttles.

* With ``settings.USE_REDIS`` a sliding-window log in a Redis sorted set, checked and updated
  by one Lua script (atomic, and timed by the Redis server's clock so that processes on hosts
  with skewed clocks still agree), shared by every process.
* Otherwise (the embedded single-process set-up) the same log in memory behind a lock.

A refused hit is not recorded, so a client that keeps knocking does not push its own window
further out.  What a full window means (wait, raise, answer 429) is the caller's business;
so is a Redis outage (:class:`core.redis.RedisError` propagates).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque

from django.conf import settings

from core import redis as shared_redis

# KEYS[1] the sorted set; ARGV: window (µs), limit, unique member.
# Returns {1, 0} when a slot was taken, else {0, µs until the oldest entry leaves the window}.
_SLIDING_WINDOW_LUA = """
local key = KEYS[1]
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, math.ceil(window / 1000) + 1000)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return {0, wait}
"""

# Drop the in-memory logs of names not hit for a while every this many hits, so that a
# stream of one-off callers (anonymous IPs) does not grow the process without bound.
_PRUNE_EVERY = 1000


class _LocalLog:
    """The in-process equivalent of the Redis script (monotonic clock, thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, tuple[deque[float], float]] = {}
        self._hits = 0

    def hit(self, name: str, limit: int, seconds: float) -> float:
        with self._lock:
            now = time.monotonic()
            self._hits += 1
            if self._hits % _PRUNE_EVERY == 0:
                self._prune(now)
            entry = self._logs.get(name)
            log: deque[float] = entry[0] if entry else deque()
            self._logs[name] = (log, seconds)
            while log and log[0] <= now - seconds:
                log.popleft()
            if len(log) < limit:
                log.append(now)
                return 0.0
            return max(log[0] + seconds - now, 0.000001)

    def _prune(self, now: float) -> None:
        stale = [n for n, (log, window) in self._logs.items() if not log or log[-1] <= now - window]
        for name in stale:
            del self._logs[name]

    def reset(self, names: tuple[str, ...], prefix: str | None) -> None:
        with self._lock:
            if prefix is not None:
                names += tuple(n for n in self._logs if n.startswith(prefix))
            for name in names:
                self._logs.pop(name, None)


_local = _LocalLog()


def hit(name: str, *, limit: int, seconds: float) -> float:
    """Take one slot of ``name``'s window: 0.0 when taken, else the seconds until one frees
    (and nothing recorded).  A ``limit`` of 0 or less never grants."""
    if limit <= 0:
        return max(seconds, 0.000001)
    if not settings.USE_REDIS:
        return _local.hit(name, limit, seconds)
    granted, wait_us = shared_redis.run_script(
        _SLIDING_WINDOW_LUA,
        keys=[name],
        args=[max(int(seconds * 1_000_000), 1), limit, uuid.uuid4().hex],
    )
    return 0.0 if int(granted) == 1 else int(wait_us) / 1_000_000


def reset(*names: str, prefix: str | None = None) -> None:
    """Forget the recorded hits of ``names`` and of every name starting with ``prefix``
    (tests, and an operator clearing a stuck limit).  The in-memory logs are always cleared;
    Redis only when it is in use."""
    _local.reset(names, prefix)
    if not settings.USE_REDIS:
        return
    if names:
        shared_redis.client().delete(*[shared_redis.key(n) for n in names])
    if prefix is not None:
        shared_redis.delete_matching(shared_redis.escape_glob(prefix) + "*")


def reset_local() -> None:
    """Forget every in-memory log (the test suite, between tests)."""
    _local.reset((), "")
