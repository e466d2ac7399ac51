"""The time budget of the provider calls a sync makes.

A sync task has a deadline (``balances.sync.execute``): under :func:`until`, every request the
HTTP seam makes gets at most the time left as its timeout (connect, read, the whole body), the
wait for a rate-limit slot is cut to it, and no request starts once it is spent.  So a slow or
trickling provider cannot keep a sync past its deadline, whatever pool runs the task: Celery's
own time limits are not enforced by the threads pool.

A context variable carries the deadline, so the adapters between the task and the seam need
no parameter for it; each thread (threads pool) or process (prefork) has its own context.
Without :func:`until` (Test connection, the sandbox) nothing is bounded beyond the per-request
timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from balances.providers.base import ErrorCategory, ProviderError

_deadline: ContextVar[float | None] = ContextVar("provider_call_deadline", default=None)


@contextmanager
def until(deadline: float) -> Iterator[None]:
    """Bound the provider calls made inside the block by ``deadline`` (``time.monotonic()``)."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left (negative once spent); None without a budget."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def spent() -> bool:
    left = remaining()
    return left is not None and left <= 0


def bound(seconds: float) -> float:
    """``seconds``, or what is left of the budget when that is less.  Raises a (not
    retryable) timeout ``ProviderError`` once the budget is spent."""
    left = remaining()
    if left is None:
        return seconds
    if left <= 0:
        raise ProviderError(
            ErrorCategory.TIMEOUT, "The sync's time limit was reached before the provider answered."
        )
    return min(seconds, left)
