"""The periodic tasks of the embedded default (core/periodic.py): every entry of the beat
schedule, run in a thread of this process, never through a broker."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from celery import Celery
from django.conf import settings

from core.periodic import PeriodicTasks, periodic_tasks_start

# Nothing listens there: publishing anything would fail (or hang retrying), so a passing test
# proves that the scheduler never talks to a broker.
NO_BROKER = "redis://127.0.0.1:1/0"


def make_app(schedule: dict) -> Celery:
    app = Celery("periodic-test", set_as_current=False, broker=NO_BROKER)
    app.conf.beat_schedule = schedule
    return app


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def started():
    threads: list[PeriodicTasks] = []

    def start(app: Celery) -> PeriodicTasks:
        thread = periodic_tasks_start(app=app)
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        thread.stop()


def test_every_entry_of_the_schedule_runs_in_this_process_without_a_broker(started):
    calls: dict[str, list] = {"a": [], "b": []}
    app = make_app(
        {
            "first": {"task": "t.a", "schedule": 0.05},
            "second": {"task": "t.b", "schedule": 0.05, "args": (2,), "kwargs": {"c": 3}},
        }
    )

    @app.task(name="t.a", shared=False)
    def a():
        calls["a"].append(threading.current_thread().name)

    @app.task(name="t.b", shared=False)
    def b(x, c):
        calls["b"].append((x, c))

    thread = started(app)

    wait_until(lambda: len(calls["a"]) >= 2 and len(calls["b"]) >= 2)
    assert set(calls["a"]) == {"periodic-tasks"}
    assert set(calls["b"]) == {(2, 3)}
    thread.stop()
    assert not thread.is_alive()


def test_a_failing_task_is_logged_and_the_other_entries_keep_running(started, caplog):
    ran: list[int] = []
    app = make_app(
        {
            "broken": {"task": "t.boom", "schedule": 0.05},
            "missing": {"task": "t.nowhere", "schedule": 0.05},
            "fine": {"task": "t.ok", "schedule": 0.05},
        }
    )

    @app.task(name="t.boom", shared=False)
    def boom():
        raise RuntimeError("provider on fire")

    @app.task(name="t.ok", shared=False)
    def ok():
        ran.append(1)

    with caplog.at_level(logging.ERROR):
        started(app)
        wait_until(lambda: len(ran) >= 3)

    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "scheduled task broken (t.boom) failed" in messages
    assert "provider on fire" in messages
    assert "no task 't.nowhere' is registered in this process" in messages


def test_stop_lets_the_task_in_progress_finish():
    started_task, finished = threading.Event(), threading.Event()
    app = make_app({"slow": {"task": "t.slow", "schedule": 0.01}})

    @app.task(name="t.slow", shared=False)
    def slow():
        started_task.set()
        time.sleep(0.3)
        finished.set()

    thread = periodic_tasks_start(app=app)
    assert started_task.wait(5)
    thread.stop(timeout=5)
    assert finished.is_set()
    assert not thread.is_alive()


def test_the_project_schedule_is_run_whole_with_every_task_found():
    """Whatever entry an app adds to CELERY_BEAT_SCHEDULE runs in the embedded default: its
    task module is imported as a worker would import it."""
    from config.celery import app

    thread = PeriodicTasks(app=app)  # not started

    assert set(settings.CELERY_BEAT_SCHEDULE) <= set(thread.scheduler.schedule)
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name
    described = thread.describe()
    for name in settings.CELERY_BEAT_SCHEDULE:
        assert name in described


def serve_command():
    from io import StringIO

    from core.management.commands.serve_embedded import Command

    command = Command(stdout=StringIO())
    command.addr, command._raw_ipv6 = "127.0.0.1", False
    return command


def test_the_server_starts_the_schedule_once_it_listens():
    command = serve_command()

    command.on_bind(8000)

    try:
        assert command.periodic is not None and command.periodic.is_alive()
        output = command.stdout._out.getvalue()
        assert "Starting development server at http://127.0.0.1:8000/" in output
        assert "Periodic tasks run in this process: " in output
        assert "sync-due-services" in output
    finally:
        command.periodic.stop()
    assert not command.periodic.is_alive()


def test_without_schedule_in_process_the_server_says_to_run_beat(settings):
    settings.SCHEDULE_IN_PROCESS = False
    command = serve_command()

    command.on_bind(8000)

    assert command.periodic is None
    assert "run `make beat` and `make worker`" in command.stdout._out.getvalue()
    assert "periodic-tasks" not in {thread.name for thread in threading.enumerate()}
