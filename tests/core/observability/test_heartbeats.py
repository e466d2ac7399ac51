"""Heartbeats written by beat's scheduler (core/observability/tasks.py HeartbeatScheduler):
each tick, throttled, and a Redis outage never stops the schedule."""

from __future__ import annotations

import time

import pytest
from celery import Celery

from core import redis as shared_redis
from core.observability import heartbeats
from core.observability.tasks import HeartbeatScheduler
from tests.core.observability.helpers import closed_port


@pytest.fixture
def scheduler(tmp_path):
    app = Celery("beat-test", set_as_current=False, broker="memory://")
    app.conf.beat_schedule = {}
    made = HeartbeatScheduler(app=app, schedule_filename=str(tmp_path / "schedule"), lazy=False)
    yield made
    made.close()


def latest_tick() -> float | None:
    raw = shared_redis.client().get(shared_redis.key(heartbeats.SCHEDULER_KEY))
    return float(raw) if raw is not None else None


def test_a_tick_of_beat_writes_the_scheduler_heartbeat(scheduler):
    assert latest_tick() is None
    before = time.time()
    scheduler.tick()
    assert latest_tick() is not None and latest_tick() >= before
    # A burst of ticks (several entries due at once) writes once every few seconds only.
    first = latest_tick()
    scheduler.tick()
    assert latest_tick() == first


def test_a_tick_with_redis_down_is_logged_and_beat_goes_on(scheduler, settings, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    shared_redis.reset_clients()
    try:
        delay = scheduler.tick()
    finally:
        shared_redis.reset_clients()
    assert delay > 0
    assert "scheduler heartbeat not written" in caplog.text
