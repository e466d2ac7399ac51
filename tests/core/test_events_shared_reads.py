"""core.events.shared_reads: inside the block a read is made once per key; outside, and in
other threads, every call reads."""

from __future__ import annotations

import threading

import pytest

from core import events


class Reader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def test_outside_a_block_every_call_reads():
    read = Reader()
    assert [events.shared("k", read) for _ in range(3)] == [1, 2, 3]


def test_inside_a_block_each_key_is_read_once_and_again_after_it():
    read, other = Reader(), Reader()
    with events.shared_reads():
        assert [events.shared("k", read) for _ in range(3)] == [1, 1, 1]
        assert events.shared("other", other) == 1
        with events.shared_reads():  # an inner block shares the outer one's reads
            assert events.shared("k", read) == 1
    assert read.calls == 1 and other.calls == 1
    with events.shared_reads():
        assert events.shared("k", read) == 2  # a new block reads again


def test_a_block_ended_by_an_exception_shares_nothing_afterwards():
    read = Reader()
    with pytest.raises(RuntimeError), events.shared_reads():
        events.shared("k", read)
        raise RuntimeError("the write failed")
    assert events.shared("k", read) == 2


def test_another_thread_does_not_see_the_block():
    read = Reader()
    seen: list[int] = []
    with events.shared_reads():
        events.shared("k", read)
        thread = threading.Thread(target=lambda: seen.append(events.shared("k", read)))
        thread.start()
        thread.join()
    assert seen == [2]
