"""A per-provider rate limit shared by every process that calls the provider.

Limits come from ``settings.PROVIDER_RATE_LIMITS`` (``{kind: (requests, per_seconds)}``): never
more than ``requests`` calls in any window of ``per_seconds``.  Celery's own ``rate_limit`` is
per worker, so with several workers the count has to live in one place:

* with ``settings.USE_REDIS`` a sliding-window log in a Redis sorted set, checked and updated
  by one Lua script (atomic, and timed by the Redis server's clock so that workers on hosts
  with skewed clocks still agree);
* otherwise (the embedded single-process set-up) the same log in memory behind a lock.

:func:`acquire` waits for a slot when one frees within ``max_wait`` seconds and otherwise raises
``ProviderError(RATE_LIMITED, retryable=True, retry_after=...)`` so that the task can be retried
later instead of holding a worker.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import deque
from functools import lru_cache

import redis
from django.conf import settings
from redis.commands.core import Script

from balances.providers.base import ErrorCategory, ProviderError

DEFAULT_KEY_PREFIX = "ratelimit:provider"

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


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    # One client (and connection pool) per process; redis-py re-creates the pool's
    # connections after a fork, so a cached client is safe in prefork workers.
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


@lru_cache(maxsize=4)
def _script(url: str) -> Script:
    return _redis_client(url).register_script(_SLIDING_WINDOW_LUA)


class _LocalLog:
    """The in-process equivalent of the Redis script (monotonic clock, thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, deque[float]] = {}

    def try_take(self, key: str, limit: int, window: float) -> float:
        """0.0 when a slot was taken, else the seconds until one frees."""
        with self._lock:
            now = time.monotonic()
            log = self._logs.setdefault(key, deque())
            while log and log[0] <= now - window:
                log.popleft()
            if len(log) < limit:
                log.append(now)
                return 0.0
            return max(log[0] + window - now, 0.000001)

    def reset(self) -> None:
        with self._lock:
            self._logs.clear()


_local = _LocalLog()


def limit_for(kind: str) -> tuple[int, float] | None:
    limits = getattr(settings, "PROVIDER_RATE_LIMITS", {}) or {}
    spec = limits.get(kind)
    if not spec:
        return None
    requests, per_seconds = spec
    return int(requests), float(per_seconds)


def key_for(kind: str) -> str:
    prefix = getattr(settings, "PROVIDER_RATE_LIMIT_KEY_PREFIX", DEFAULT_KEY_PREFIX)
    return f"{prefix}:{kind}"


def _try_take(kind: str, limit: int, window: float) -> float:
    if not settings.USE_REDIS:
        return _local.try_take(key_for(kind), limit, window)
    try:
        granted, wait_us = _script(settings.REDIS_URL)(
            keys=[key_for(kind)],
            args=[max(int(window * 1_000_000), 1), limit, uuid.uuid4().hex],
        )
    except redis.RedisError as exc:
        # Without the shared count we cannot promise the provider's limit: do not call.
        raise ProviderError(
            ErrorCategory.UNAVAILABLE,
            f"The shared rate limiter is unavailable ({type(exc).__name__}).",
            retryable=True,
            retry_after=5.0,
        ) from None
    return 0.0 if int(granted) == 1 else int(wait_us) / 1_000_000


def acquire(kind: str, *, max_wait: float = 5.0) -> None:
    """Take one request slot for provider ``kind``; see the module docstring."""
    spec = limit_for(kind)
    if spec is None:
        return
    limit, window = spec
    if limit <= 0:
        raise ProviderError(
            ErrorCategory.CONFIGURATION,
            f"Requests to {kind} are disabled by its rate limit setting.",
        )
    deadline = time.monotonic() + max(max_wait, 0.0)
    while True:
        wait = _try_take(kind, limit, window)
        if wait <= 0:
            return
        remaining = deadline - time.monotonic()
        if wait > remaining:
            raise ProviderError(
                ErrorCategory.RATE_LIMITED,
                f"Our own limit of {limit} requests per {window:g} s to {kind} is reached.",
                retryable=True,
                retry_after=round(wait, 3),
            )
        # A little jitter so that waiters woken by the same free slot do not all collide.
        time.sleep(wait + random.uniform(0, min(0.05, window / 100)))


def reset(kind: str | None = None) -> None:
    """Forget the recorded requests (tests, and an operator clearing a stuck limit)."""
    _local.reset()
    if settings.USE_REDIS:
        kinds = [kind] if kind else list(getattr(settings, "PROVIDER_RATE_LIMITS", {}))
        if kinds:
            _redis_client(settings.REDIS_URL).delete(*[key_for(k) for k in kinds])
