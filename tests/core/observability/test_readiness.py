"""/healthz, /readyz and check_ready (core/observability/health.py): each dependency down in
turn answers a fast 503 naming the check; nothing else is revealed."""

from __future__ import annotations

import io
import time

import pytest
from celery import Celery
from django.core.management import call_command
from django.db import connections

from core.observability import health, heartbeats
from core.periodic import periodic_tasks_start
from tests.core.observability.helpers import black_hole, closed_port

ALL_OK = {"database": "ok", "redis": "ok", "workers": "ok", "scheduler": "ok"}
# The probe must answer well within a load balancer's timeout even when a dependency hangs.
FAST = 2.0


@pytest.fixture(autouse=True)
def _fresh(settings):
    """Tasks on workers (so that the workers' heartbeats count), fresh probe clients and no
    remembered heartbeats."""
    settings.TASKS_IN_PROCESS = False
    health.reset_clients()
    heartbeats.forget()
    yield
    health.reset_clients()
    heartbeats.forget()


def alive(*, worker_age: float = 0.0, tick_age: float = 0.0) -> None:
    now = time.time()
    heartbeats.worker_beat("w1@host", now=now - worker_age)
    heartbeats.scheduler_beat(now=now - tick_age)


def ready(client):
    started = time.monotonic()
    response = client.get("/readyz")
    return response, time.monotonic() - started


@pytest.mark.django_db
def test_healthz_answers_without_database_or_redis(client, settings, django_assert_num_queries):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_readyz_is_ok_with_every_dependency_alive(client):
    alive()
    response, _ = ready(client)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": ALL_OK}


@pytest.mark.django_db
def test_redis_on_a_closed_port_is_a_fast_503_naming_redis(client, settings):
    alive()
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response, elapsed = ready(client)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"] == "unreachable"
    assert checks["database"] == "ok"
    # The heartbeats live in Redis: nobody can tell, and readiness says so.
    assert checks["workers"] == checks["scheduler"] == "unknown: redis unreachable"
    assert response.json()["status"] == "unavailable"
    assert elapsed < FAST


@pytest.mark.django_db
def test_redis_that_accepts_and_never_answers_is_a_503_within_the_timeout(client, settings):
    alive()
    with black_hole() as port:
        settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
        response, elapsed = ready(client)
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "timeout"
    assert elapsed < FAST


@pytest.mark.django_db
def test_no_worker_heartbeat_is_a_503_naming_the_workers(client):
    heartbeats.scheduler_beat()
    response, _ = ready(client)
    assert response.status_code == 503
    assert response.json()["checks"] == {**ALL_OK, "workers": "none seen for 60 s"}


@pytest.mark.django_db
def test_a_worker_heartbeat_older_than_the_limit_counts_as_none(client, settings):
    settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS = 30
    alive(worker_age=31)
    response, _ = ready(client)
    assert response.status_code == 503
    assert response.json()["checks"]["workers"] == "none seen for 30 s"
    alive(worker_age=5)
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_a_stale_scheduler_heartbeat_is_a_503_saying_when_it_last_ticked(client):
    alive(tick_age=5 * 60 + 3)
    response, _ = ready(client)
    assert response.status_code == 503
    assert response.json()["checks"] == {**ALL_OK, "scheduler": "last tick 5 min ago"}


@pytest.mark.django_db
def test_a_scheduler_that_never_ticked_is_named(client):
    heartbeats.worker_beat("w1@host")
    assert client.get("/readyz").json()["checks"]["scheduler"] == "no tick seen"


@pytest.mark.django_db
def test_database_on_a_closed_port_is_a_fast_503_naming_the_database(client, monkeypatch):
    alive()
    # The probe opens a connection of its own, in a thread: from these settings.
    dead = {**connections.settings["default"], "PORT": closed_port()}
    monkeypatch.setitem(connections.settings, "default", dead)
    response, elapsed = ready(client)
    assert response.status_code == 503
    assert response.json()["checks"] == {**ALL_OK, "database": "unreachable"}
    assert elapsed < FAST


@pytest.mark.django_db
def test_a_database_that_never_answers_is_a_503_within_the_timeout(client, monkeypatch):
    alive()
    with black_hole() as port:
        hung = {**connections.settings["default"], "PORT": port}
        monkeypatch.setitem(connections.settings, "default", hung)
        response, elapsed = ready(client)
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "timeout"
    assert elapsed < FAST


@pytest.mark.django_db
def test_the_answer_reveals_nothing_but_the_fixed_words(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    body = client.get("/readyz").content.decode()
    assert "127.0.0.1" not in body and "Error" not in body and "redis://" not in body


@pytest.mark.django_db
def test_embedded_default_reports_its_in_process_worker_and_schedule_thread(client, settings):
    """No Redis, tasks in-process: the schedule thread's ticks are the heartbeat, kept in
    this process's memory."""
    settings.TASKS_IN_PROCESS = True
    settings.USE_REDIS = False
    assert client.get("/readyz").json()["checks"]["scheduler"] == "no tick seen"

    app = Celery("embedded-test", set_as_current=False, broker="redis://127.0.0.1:1/0")
    app.conf.beat_schedule = {}
    thread = periodic_tasks_start(app=app)
    try:
        deadline = time.monotonic() + 5
        while heartbeats.memory_reads()[1] is None and time.monotonic() < deadline:
            time.sleep(0.02)
        response = client.get("/readyz")
    finally:
        thread.stop()
    assert response.status_code == 200
    assert response.json()["checks"] == {**ALL_OK, "redis": "not used"}


@pytest.mark.django_db
def test_check_ready_exits_zero_when_ready_and_one_naming_the_check_otherwise(settings):
    alive()
    out = io.StringIO()
    call_command("check_ready", stdout=out)
    assert '"status": "ok"' in out.getvalue()

    heartbeats.worker_beat("w1@host", now=time.time() - 3600)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("check_ready", stdout=out, stderr=err)
    assert exited.value.code == 1
    assert '"workers": "none seen for 60 s"' in out.getvalue()
    assert "workers: none seen for 60 s" in err.getvalue()
