"""Request rates per API key (or per signed-in user) and per anonymous client IP.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``apikey`` and ``anon``, set from
the ``API_THROTTLE_KEY`` / ``API_THROTTLE_ANON`` environment variables) and are read on each
request, not frozen at import as DRF's classes do, so a settings change takes effect at once.

With Redis (``settings.USE_REDIS``) the count is one atomic Lua call per request, shared by
every process: a fixed window per key (``INCR``, expiry set by the first request of the
window).  DRF's own throttles read and rewrite a history list through the cache instead: two
round trips, and concurrent workers can overwrite each other's count.  Without Redis (the
embedded single-process set-up) DRF's cache-based sliding window is used.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from redis.commands.core import Script
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from core.api.auth import api_key_of

logger = logging.getLogger("config.api")

KEY_PREFIX = "throttle:api"

# KEYS[1] the window's counter; ARGV[1] window (ms), ARGV[2] limit.
# Returns 0 when the request is allowed, else the milliseconds until the window ends.
_FIXED_WINDOW_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if count <= tonumber(ARGV[2]) then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return ttl
"""


@lru_cache(maxsize=4)
def _script(url: str) -> Script:
    # One client and connection pool per process (a client per call costs more than the
    # round trip itself).
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client.register_script(_FIXED_WINDOW_LUA)


class _SettingsRate(SimpleRateThrottle):
    _wait: float | None = None

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: Any) -> bool:
        if not settings.USE_REDIS:
            return super().allow_request(request, view)
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            wait_ms = int(
                _script(settings.REDIS_URL)(
                    keys=[f"{KEY_PREFIX}:{self.key}"],
                    args=[max(int(self.duration * 1000), 1), self.num_requests],
                )
            )
        except redis.RedisError as exc:
            # Throttling protects the API; losing it for a moment must not take the API down.
            logger.warning("API throttle unavailable (%s); request let through", type(exc).__name__)
            return True
        self._wait = wait_ms / 1000
        return wait_ms == 0

    def wait(self) -> float | None:
        if settings.USE_REDIS:
            return self._wait
        return super().wait()


class ApiKeyRateThrottle(_SettingsRate):
    """One budget per API key; a session (browsable API) has one per user."""

    scope = "apikey"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = api_key_of(request)
        if key is not None:
            ident = f"key{key.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user{request.user.pk}"
        else:
            return None  # anonymous: AnonIpRateThrottle's business
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonIpRateThrottle(_SettingsRate):
    """Requests without valid credentials, per client IP (``NUM_PROXIES`` says how far to
    trust X-Forwarded-For).  Also slows down anyone guessing keys: a bad key counts here."""

    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user is not None and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
