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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar

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


# A batch of syncs reserves its slots at once (one Redis call instead of one per request),
# usable for this long and each recorded as a request made at the end of it (see
# core.ratelimit.reserve): a slot counts at least as long as one taken when it is used.
RESERVATION_USABLE_SECONDS = 2.0


class _Reservation:
    def __init__(self, kind: str, slots: list[str], usable_until: float) -> None:
        self.kind = kind
        self.slots = slots
        self.usable_until = usable_until
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, list[str]]:
        """Whether a reserved slot was taken; and, once their time is over, the slots left
        (to be freed at once rather than when the batch ends)."""
        with self._lock:
            if not self.slots:
                return False, []
            if time.monotonic() < self.usable_until:
                self.slots.pop()
                return True, []
            slots, self.slots = self.slots, []
            return False, slots

    def unused(self) -> list[str]:
        with self._lock:
            slots, self.slots = self.slots, []
            return slots


_reservation: ContextVar[_Reservation | None] = ContextVar(
    "provider_rate_reservation", default=None
)


@contextmanager
def reserved(kind: str, count: int) -> Iterator[None]:
    """Inside the block (threads started in it with a copy of its context share it), the
    first ``count`` requests to ``kind`` made within ``RESERVATION_USABLE_SECONDS`` use slots
    taken at once on entering it, as many as were free; the others, and those made later,
    take theirs one by one as always.  The unused slots are freed when their time is over
    or on leaving, whichever comes first."""
    spec = limit_for(kind)
    if spec is None or spec[0] <= 0 or count <= 0:
        yield
        return
    limit, window = spec
    started = time.monotonic()
    try:
        slots = ratelimit.reserve(
            key_for(kind),
            limit=limit,
            seconds=window,
            count=count,
            hold=RESERVATION_USABLE_SECONDS,
        )
    except RedisError:
        slots = []  # each request asks on its own, and meets the outage there
    reservation = _Reservation(kind, slots, started + RESERVATION_USABLE_SECONDS)
    token = _reservation.set(reservation)
    try:
        yield
    finally:
        _reservation.reset(token)
        unused = reservation.unused()
        if unused:
            with suppress(RedisError):  # else they expire with their window
                ratelimit.give_back(key_for(kind), unused)


def acquire(kind: str, *, max_wait: float = 5.0) -> None:
    """Take one request slot for provider ``kind``; see the module docstring."""
    spec = limit_for(kind)
    if spec is None:
        return
    reservation = _reservation.get()
    if reservation is not None and reservation.kind == kind:
        took, stale = reservation.take()
        if stale:
            with suppress(RedisError):  # else they expire with their window
                ratelimit.give_back(key_for(kind), stale)
        if took:
            metrics.rate_limit_waited(kind, 0.0)
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
