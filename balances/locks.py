"""A per-service lock with an expiry, so that one service is never synced by two workers at
once.  In Redis when processes share work (``settings.USE_REDIS``); in-process otherwise.

The expiry bounds the damage of a worker that dies holding the lock: the lock frees itself
and a redelivered task can take over.
"""

from __future__ import annotations

import secrets
import threading
import time

from django.conf import settings

from core import redis as shared_redis

# Compare-and-delete: release only a lock we still own.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

_local_locks: dict[str, tuple[str, float]] = {}
_local_guard = threading.Lock()


def _key(name: str) -> str:
    return f"bo:lock:{name}"


def acquire(name: str, ttl: float) -> str | None:
    """Take the lock for ``ttl`` seconds; return its token, or None when someone holds it."""
    token = secrets.token_hex(16)
    if settings.USE_REDIS:
        ok = shared_redis.client().set(
            shared_redis.key(_key(name)), token, nx=True, px=max(1, int(ttl * 1000))
        )
        return token if ok else None
    now = time.monotonic()
    with _local_guard:
        held = _local_locks.get(name)
        if held and held[1] > now:
            return None
        _local_locks[name] = (token, now + ttl)
    return token


def release(name: str, token: str) -> bool:
    if settings.USE_REDIS:
        return bool(shared_redis.run_script(_RELEASE, keys=[_key(name)], args=[token]))
    with _local_guard:
        held = _local_locks.get(name)
        if held and held[0] == token:
            del _local_locks[name]
            return True
    return False


def remaining(name: str) -> float:
    """Seconds until the lock expires (0 when free)."""
    if settings.USE_REDIS:
        ms = shared_redis.client().pttl(shared_redis.key(_key(name)))
        return max(0.0, ms / 1000) if ms and ms > 0 else 0.0
    with _local_guard:
        held = _local_locks.get(name)
    return max(0.0, held[1] - time.monotonic()) if held else 0.0


def service_lock_name(service_id: int) -> str:
    return f"sync:service:{service_id}"
