"""The shared per-provider rate limiter: Redis sliding window across processes, and the
in-process fallback."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid

import pytest

from balances.providers import ratelimit
from balances.providers.base import ErrorCategory, ProviderError

KIND = "testprovider"


@pytest.fixture(autouse=True)
def own_keys(settings):
    # The Redis tests need Redis whatever the settings defaulted to (test database 15).
    settings.USE_REDIS = True
    settings.REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    settings.PROVIDER_RATE_LIMIT_KEY_PREFIX = f"test-ratelimit:{uuid.uuid4().hex}"
    yield
    ratelimit.reset()


def assert_never_more_than(times: list[float], limit: int, window: float, slack: float) -> None:
    """No ``limit + 1`` grants inside any window (``slack`` absorbs the few milliseconds
    between a grant and the moment the grantee read its clock)."""
    times = sorted(times)
    for first, last in zip(times, times[limit:], strict=False):
        assert last - first >= window - slack, (
            f"{limit + 1} grants within {last - first:.3f}s < {window}s"
        )


def _acquire_many(count: int, results) -> None:
    for _ in range(count):
        ratelimit.acquire(KIND, max_wait=30)
        results.put(time.time())


def test_redis_limit_holds_across_processes(settings):
    limit, window = 4, 0.5
    settings.PROVIDER_RATE_LIMITS = {KIND: (limit, window)}
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_acquire_many, args=(3, results)) for _ in range(4)]
    started = time.time()
    for worker in workers:
        worker.start()
    times = [results.get(timeout=20) for _ in range(12)]
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0
    assert_never_more_than(times, limit, window, slack=0.05)
    # 12 grants at 4 per 0.5 s need at least two full windows after the first batch.
    assert max(times) - started >= 2 * window - 0.05


def test_redis_limit_holds_across_threads(settings):
    limit, window = 3, 0.4
    settings.PROVIDER_RATE_LIMITS = {KIND: (limit, window)}
    times: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        ratelimit.acquire(KIND, max_wait=30)
        with lock:
            times.append(time.time())

    threads = [threading.Thread(target=worker) for _ in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(times) == 9
    assert_never_more_than(times, limit, window, slack=0.05)


def test_full_window_raises_with_sensible_retry_after(settings):
    settings.PROVIDER_RATE_LIMITS = {KIND: (3, 10)}
    for _ in range(3):
        ratelimit.acquire(KIND, max_wait=0)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        ratelimit.acquire(KIND, max_wait=1)
    assert time.monotonic() - started < 0.5  # no pointless sleep when the wait is too long
    error = info.value
    assert error.category == ErrorCategory.RATE_LIMITED
    assert error.retryable is True
    assert 9 < error.retry_after <= 10


def test_waits_for_a_slot_that_frees_within_max_wait(settings):
    settings.PROVIDER_RATE_LIMITS = {KIND: (2, 0.3)}
    ratelimit.acquire(KIND)
    ratelimit.acquire(KIND)
    started = time.monotonic()
    ratelimit.acquire(KIND, max_wait=2)
    assert 0.2 <= time.monotonic() - started < 1.0


def test_kinds_are_limited_separately(settings):
    settings.PROVIDER_RATE_LIMITS = {KIND: (1, 60), "other": (1, 60)}
    ratelimit.acquire(KIND, max_wait=0)
    ratelimit.acquire("other", max_wait=0)
    with pytest.raises(ProviderError):
        ratelimit.acquire(KIND, max_wait=0)


def test_kind_without_a_limit_is_not_limited(settings):
    settings.PROVIDER_RATE_LIMITS = {}
    for _ in range(50):
        ratelimit.acquire("unlimited", max_wait=0)


def test_zero_limit_is_a_configuration_error(settings):
    settings.PROVIDER_RATE_LIMITS = {KIND: (0, 60)}
    with pytest.raises(ProviderError) as info:
        ratelimit.acquire(KIND)
    assert info.value.category == ErrorCategory.CONFIGURATION


def test_unreachable_redis_is_unavailable_not_unlimited(settings):
    settings.PROVIDER_RATE_LIMITS = {KIND: (5, 60)}
    good_url, settings.REDIS_URL = settings.REDIS_URL, "redis://127.0.0.1:1/0"
    with pytest.raises(ProviderError) as info:
        ratelimit.acquire(KIND)
    settings.REDIS_URL = good_url
    assert info.value.category == ErrorCategory.UNAVAILABLE
    assert info.value.retryable is True


def test_payop_documented_limit_is_configured(settings):
    assert ratelimit.limit_for("payop") == (10, 60.0)


# --- Without Redis: the in-process fallback ---------------------------------------------


def test_local_fallback_holds_across_threads(settings):
    settings.USE_REDIS = False
    limit, window = 3, 0.4
    settings.PROVIDER_RATE_LIMITS = {KIND: (limit, window)}
    times: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        ratelimit.acquire(KIND, max_wait=30)
        with lock:
            times.append(time.time())

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(times) == 10
    assert_never_more_than(times, limit, window, slack=0.03)


def test_local_fallback_retry_after(settings):
    settings.USE_REDIS = False
    settings.PROVIDER_RATE_LIMITS = {KIND: (2, 5)}
    ratelimit.acquire(KIND, max_wait=0)
    ratelimit.acquire(KIND, max_wait=0)
    with pytest.raises(ProviderError) as info:
        ratelimit.acquire(KIND, max_wait=0)
    assert info.value.category == ErrorCategory.RATE_LIMITED
    assert 4 < info.value.retry_after <= 5
