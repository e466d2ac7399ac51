"""The one Redis client of a process, and the one way to name a key.

Locks, rate windows and API throttles all go through :func:`client` and :func:`key`: one
connection pool per process and URL (redis-py re-creates a pool's connections after a fork, so
a cached client is safe in prefork workers), short timeouts so that a Redis outage costs a
request seconds rather than minutes, and every key under ``settings.REDIS_KEY_PREFIX`` so that
two deployments (or two test runs) can share one Redis database without touching each other's
keys.  The Django cache and Celery's transport use the same prefix (see config/settings.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import redis
from django.conf import settings
from redis.commands.core import Script

RedisError = redis.RedisError

# Every command we send is a single short round trip: waiting longer than this means Redis is
# unwell, and the callers decide what that means (refuse a provider call, let an API request
# through).
TIMEOUT_SECONDS = 2.0


@cache
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )


def client() -> redis.Redis:
    """The process's client for ``settings.REDIS_URL`` (read on each call, so that a test
    pointing the settings elsewhere gets a client for that server)."""
    return _client_for(settings.REDIS_URL)


def key(name: str) -> str:
    """``name`` under this deployment's prefix: the only way a key reaches Redis."""
    return f"{settings.REDIS_KEY_PREFIX}{name}"


@cache
def _script_for(url: str, source: str) -> Script:
    # Registered once per process and server: redis-py then sends EVALSHA, and the script's
    # text only when the server does not know it yet.
    return _client_for(url).register_script(source)


def run_script(source: str, *, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """Run the Lua ``source`` on ``keys`` (names, prefixed here) with ``args``."""
    script = _script_for(settings.REDIS_URL, source)
    return script(keys=[key(name) for name in keys], args=list(args))


def delete_matching(pattern: str) -> int:
    """Delete the keys under this prefix whose rest matches the glob ``pattern`` ("*": every
    key of this deployment); returns how many.  SCAN, never KEYS: the server keeps serving
    others meanwhile."""
    found = 0
    conn = client()
    batch: list[bytes] = []
    match = escape_glob(settings.REDIS_KEY_PREFIX) + pattern
    for name in conn.scan_iter(match=match, count=500):
        batch.append(name)
        if len(batch) >= 500:
            found += conn.delete(*batch)
            batch.clear()
    if batch:
        found += conn.delete(*batch)
    return found


def escape_glob(text: str) -> str:
    """``text`` as a literal inside a SCAN MATCH pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def reset_clients() -> None:
    """Forget the cached clients and scripts (tests that point REDIS_URL at a dead port)."""
    _script_for.cache_clear()
    _client_for.cache_clear()
