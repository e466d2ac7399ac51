"""The per-service locks (balances/locks.py), taken and released many at once by a batch of
syncs exactly as one at a time would."""

from __future__ import annotations

import uuid

import pytest

from balances import locks


@pytest.fixture(params=[True, False], ids=["redis", "in-process"])
def use_redis(request, settings):
    settings.USE_REDIS = request.param
    return request.param


def names(count: int) -> list[str]:
    prefix = uuid.uuid4().hex
    return [f"test:{prefix}:{n}" for n in range(count)]


def test_acquire_many_takes_the_free_locks_and_leaves_the_held_ones(use_redis):
    a, b, c = names(3)
    held = locks.acquire(b, 30)
    assert held is not None

    tokens = locks.acquire_many([a, b, c], 30)

    assert tokens[0] is not None and tokens[2] is not None
    assert tokens[1] is None  # someone else's
    assert locks.acquire(a, 30) is None and locks.acquire(c, 30) is None
    assert locks.remaining(a) > 0
    # The same name twice in one call: the second is refused, as a second acquire would be.
    d = names(1)[0]
    first, second = locks.acquire_many([d, d], 30)
    assert first is not None and second is None
    locks.release_many([(a, tokens[0]), (c, tokens[2]), (d, first)])
    locks.release(b, held)


def test_release_many_releases_only_the_locks_still_ours(use_redis):
    a, b = names(2)
    token_a, token_b = locks.acquire_many([a, b], 30)
    assert token_a is not None and token_b is not None

    released = locks.release_many([(a, token_a), (b, "not-the-token")])

    assert released == 1
    assert locks.remaining(a) == 0
    assert locks.remaining(b) > 0  # not ours to release
    assert locks.release(b, token_b)
    assert locks.release_many([]) == 0 and locks.acquire_many([], 30) == []
