"""The one rate window (core/ratelimit.py) and the one Redis client (core/redis.py): the
sliding window in Redis and in memory, and every key under the run's prefix."""

from __future__ import annotations

import time
import uuid

import pytest

from core import ratelimit
from core import redis as shared_redis


@pytest.fixture
def name():
    return f"test-window:{uuid.uuid4().hex}"


@pytest.fixture(params=["redis", "memory"])
def store(request, settings):
    settings.USE_REDIS = request.param == "redis"
    return request.param


def test_grants_up_to_the_limit_then_says_how_long_to_wait(store, name):
    assert [ratelimit.hit(name, limit=3, seconds=10) for _ in range(3)] == [0.0, 0.0, 0.0]

    wait = ratelimit.hit(name, limit=3, seconds=10)

    assert 9 < wait <= 10


def test_a_refused_hit_is_not_recorded(store, name):
    assert ratelimit.hit(name, limit=1, seconds=0.3) == 0.0
    for _ in range(5):  # knocking while full does not push the window further out
        assert ratelimit.hit(name, limit=1, seconds=0.3) > 0
    time.sleep(0.35)
    assert ratelimit.hit(name, limit=1, seconds=0.3) == 0.0


def test_names_are_counted_separately(store, name):
    assert ratelimit.hit(name, limit=1, seconds=60) == 0.0
    assert ratelimit.hit(f"{name}:other", limit=1, seconds=60) == 0.0
    assert ratelimit.hit(name, limit=1, seconds=60) > 0


def test_a_zero_limit_never_grants(store, name):
    assert ratelimit.hit(name, limit=0, seconds=60) > 0


def test_reset_forgets_names_and_prefixes(store, name):
    for suffix in ("a", "b", "c"):
        ratelimit.hit(f"{name}:{suffix}", limit=1, seconds=60)

    ratelimit.reset(f"{name}:a")
    ratelimit.reset(prefix=f"{name}:b")

    assert ratelimit.hit(f"{name}:a", limit=1, seconds=60) == 0.0
    assert ratelimit.hit(f"{name}:b", limit=1, seconds=60) == 0.0
    assert ratelimit.hit(f"{name}:c", limit=1, seconds=60) > 0


def test_redis_keys_carry_the_runs_prefix(settings, name):
    settings.USE_REDIS = True
    assert settings.REDIS_KEY_PREFIX.startswith("test:")  # config/test_settings.py

    ratelimit.hit(name, limit=5, seconds=60)

    client = shared_redis.client()
    assert client.exists(f"{settings.REDIS_KEY_PREFIX}{name}") == 1
    assert client.exists(name) == 0


def test_cleaning_up_leaves_other_prefixes_alone(settings, name):
    client = shared_redis.client()
    foreign = f"another-run:{name}"
    client.set(foreign, "1", ex=60)
    client.set(shared_redis.key(name), "1", ex=60)
    try:
        assert shared_redis.delete_matching("*") >= 1
        assert client.exists(shared_redis.key(name)) == 0
        assert client.exists(foreign) == 1
    finally:
        client.delete(foreign)


def test_cache_and_celery_use_the_same_prefix(settings):
    prefix = settings.REDIS_KEY_PREFIX
    assert settings.CACHES["default"]["KEY_PREFIX"] == f"{prefix}bo"
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] == prefix


def test_an_unreachable_redis_raises_for_the_caller_to_decide(settings, name):
    settings.USE_REDIS = True
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    with pytest.raises(shared_redis.RedisError):
        ratelimit.hit(name, limit=1, seconds=60)
