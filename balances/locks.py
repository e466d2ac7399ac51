"""A per-service lock with an expiry, so that one service is never synced by two workers at
once.  In Redis when processes share work (``settings.USE_REDIS``); in-process otherwise.

The expiry bounds the damage of a worker that dies holding the lock: the lock frees itself
and a redelivered task can take over.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence

from django.conf import settings

from core import redis as shared_redis

# Compare-and-delete: release only a lock we still own.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

# The same, for many locks in one round trip (a batch of syncs): each key is taken or
# released on its own, exactly as one call per key would.
_ACQUIRE_MANY = """
local taken = {}
for i, key in ipairs(KEYS) do
  if redis.call('set', key, ARGV[i + 1], 'NX', 'PX', ARGV[1]) then
    taken[i] = 1
  else
    taken[i] = 0
  end
end
return taken
"""
_RELEASE_MANY = """
local released = 0
for i, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[i] then
    released = released + redis.call('del', key)
  end
end
return released
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


def acquire_many(names: Sequence[str], ttl: float) -> list[str | None]:
    """``acquire`` for each of ``names`` (one Redis call): each lock's token, or None where
    someone holds it."""
    if not settings.USE_REDIS:
        return [acquire(name, ttl) for name in names]
    if not names:
        return []
    tokens = [secrets.token_hex(16) for _ in names]
    taken = shared_redis.run_script(
        _ACQUIRE_MANY,
        keys=[_key(name) for name in names],
        args=[max(1, int(ttl * 1000)), *tokens],
    )
    return [token if ok else None for token, ok in zip(tokens, taken, strict=True)]


def release_many(held: Sequence[tuple[str, str]]) -> int:
    """``release`` each ``(name, token)`` (one Redis call); returns how many were still ours."""
    if not settings.USE_REDIS:
        return sum(release(name, token) for name, token in held)
    if not held:
        return 0
    return int(
        shared_redis.run_script(
            _RELEASE_MANY,
            keys=[_key(name) for name, _token in held],
            args=[token for _name, token in held],
        )
    )


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
