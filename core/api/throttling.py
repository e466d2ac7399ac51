"""Request rates per API key (or per signed-in user) and per anonymous client IP.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``apikey`` and ``anon``, set from
the ``API_THROTTLE_KEY`` / ``API_THROTTLE_ANON`` environment variables) and are read on each
request, not frozen at import as DRF's classes do, so a settings change takes effect at once.

The count is :mod:`core.ratelimit`'s sliding window: with Redis (``settings.USE_REDIS``) one
atomic Lua call per request, shared by every process; without it (the embedded
single-process set-up) the same window in memory.  DRF's own throttles read and rewrite a
history list through the cache instead: two round trips, and concurrent workers can overwrite
each other's count.
"""

from __future__ import annotations

import logging
from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from core import ratelimit
from core.api.auth import api_key_of
from core.net import client_ip
from core.redis import RedisError

logger = logging.getLogger("config.api")

KEY_PREFIX = "throttle:api"


class _SettingsRate(SimpleRateThrottle):
    _wait: float | None = None
    num_requests: int  # parsed from the rate by SimpleRateThrottle.__init__
    duration: int

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")
        return str(rate) if rate is not None else None

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            self._wait = ratelimit.hit(
                f"{KEY_PREFIX}:{self.key}", limit=self.num_requests, seconds=self.duration
            )
        except RedisError as exc:
            # Throttling protects the API; losing it for a moment must not take the API down.
            logger.warning("API throttle unavailable (%s); request let through", type(exc).__name__)
            return True
        return self._wait == 0

    def wait(self) -> float | None:
        return self._wait


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
    """Requests without valid credentials, per client IP (X-Forwarded-For only as far as
    ``BEHIND_PROXY`` / ``PROXY_HOPS`` say: core/net.py, the login lockout's rule too).  Also
    slows down anyone guessing keys: a bad key counts here."""

    scope = "anon"

    def get_ident(self, request: Request) -> str:
        return client_ip(request) or ""

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user is not None and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
