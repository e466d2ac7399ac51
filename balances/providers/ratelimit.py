"""A per-provider rate limit shared by every process that calls the provider.

Limits come from each adapter's ``rate_limit``, overridden by ``settings.PROVIDER_RATE_LIMITS``
(``{kind: (requests, per_seconds)}``): never more than ``requests`` calls in any window of
``per_seconds``.  Celery's own ``rate_limit`` is
per worker, so the count lives in :mod:`core.ratelimit` (Redis when processes share work,
memory in the embedded single-process set-up).

:func:`acquire` waits for a slot when one frees within ``max_wait`` seconds and otherwise raises
``ProviderError(RATE_LIMITED, retryable=True, retry_after=...)`` so that the task can be retried
later instead of holding a worker.
"""

from __future__ import annotations

import random
import time

from django.conf import settings

from balances.providers.base import (
    ErrorCategory,
    ProviderError,
    adapter_class,
    adapter_classes,
)
from core import ratelimit
from core.observability import metrics
from core.redis import RedisError

DEFAULT_KEY_PREFIX = "ratelimit:provider"


def limit_for(kind: str) -> tuple[int, float] | None:
    """The settings' override for ``kind``, else the adapter's declared ``rate_limit``
    (resolved here, lazily: settings never import the apps)."""
    limits = getattr(settings, "PROVIDER_RATE_LIMITS", {}) or {}
    spec = limits.get(kind)
    if not spec:
        adapter = adapter_class(kind)
        spec = adapter.rate_limit if adapter is not None else None
    if not spec:
        return None
    requests, per_seconds = spec
    return int(requests), float(per_seconds)


def key_for(kind: str) -> str:
    prefix = getattr(settings, "PROVIDER_RATE_LIMIT_KEY_PREFIX", DEFAULT_KEY_PREFIX)
    return f"{prefix}:{kind}"


def _try_take(kind: str, limit: int, window: float) -> float:
    try:
        return ratelimit.hit(key_for(kind), limit=limit, seconds=window)
    except RedisError as exc:
        # Without the shared count we cannot promise the provider's limit: do not call.
        raise ProviderError(
            ErrorCategory.UNAVAILABLE,
            f"The shared rate limiter is unavailable ({type(exc).__name__}).",
            retryable=True,
            retry_after=5.0,
        ) from None


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
    started = time.monotonic()
    try:
        _wait_for_slot(kind, limit, window, deadline=started + max(max_wait, 0.0))
    finally:
        # Waited for a slot, or until giving up: backoffice_provider_rate_limit_wait_seconds.
        metrics.rate_limit_waited(kind, time.monotonic() - started)


def _wait_for_slot(kind: str, limit: int, window: float, *, deadline: float) -> None:
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
    configured = getattr(settings, "PROVIDER_RATE_LIMITS", {}) or {}
    kinds = [kind] if kind else sorted({*configured, *adapter_classes()})
    ratelimit.reset(*[key_for(k) for k in kinds])
