"""Celery beat's schedule (``CELERY_BEAT_SCHEDULE``), run inside the web process of the
embedded default.

Production runs exactly one ``celery -A config beat`` that sends each due entry to the
workers through Redis.  The embedded default (``make run``) has neither a broker nor a
worker: its tasks run in-process (``TASKS_IN_PROCESS``).  There, a thread of the web process
ticks the very same schedule with beat's own scheduler (intervals and crontabs alike, every
entry, whichever app added it) and runs each due task in that thread.  One process rather
than a second one on a file broker: SQLite keeps a single writing process, and the scheduled
tasks share the in-process locks and rate limits with the ones a button starts.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery
from celery.app import app_or_default
from celery.beat import ScheduleEntry, Scheduler, SchedulingError
from django.db import connections
from django.utils.module_loading import autodiscover_modules

from core.observability.tasks import scheduler_ticked

log = logging.getLogger(__name__)


class InProcessScheduler(Scheduler):
    """Beat's scheduler without a broker: a due entry's task runs here, synchronously.

    A long task delays the entries behind it: an entry that fell due meanwhile runs right
    after it (once, not once per interval missed), as with a busy beat.
    """

    @property
    def producer(self) -> None:  # type: ignore[override]
        # Beat's scheduler connects to the broker for its producer; nothing is published.
        return None

    def apply_async(
        self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        if advance:
            self.reserve(entry)
        task = self.app.tasks.get(entry.task or "")
        if task is None:
            raise SchedulingError(
                f"Couldn't apply scheduled task {entry.name}: no task {entry.task!r} is "
                "registered in this process."
            )
        try:
            result = task.apply(args=tuple(entry.args or ()), kwargs=dict(entry.kwargs or {}))
        finally:
            # The thread lives as long as the server: never keep a connection (an SQLite
            # file handle, a PostgreSQL session) open between two ticks.
            connections.close_all()
        if result.failed():
            log.error("scheduled task %s (%s) failed: %r", entry.name, entry.task, result.result)
        return result


class PeriodicTasks(threading.Thread):
    """The thread that ticks the schedule until :meth:`stop`."""

    def __init__(self, *, app: Celery) -> None:
        super().__init__(name="periodic-tasks", daemon=True)
        self.app = app
        # Every app's tasks module, as a worker imports them at start: an entry whose task
        # was never imported would otherwise be skipped.  (Celery's own way,
        # loader.import_default_modules(), would run django.setup() and the checks again.)
        autodiscover_modules("tasks")
        self.scheduler = InProcessScheduler(app=app)
        self._stopping = threading.Event()

    def describe(self) -> str:
        return ", ".join(
            f"{name} ({entry.schedule!r})"
            for name, entry in sorted(self.scheduler.schedule.items())
        )

    def run(self) -> None:
        self.app.set_current()
        while not self._stopping.is_set():
            try:
                delay: float | None = self.scheduler.tick()
            except Exception:
                # One broken entry must not end the schedule of every other one.
                log.exception("periodic tasks: tick failed")
                delay = self.scheduler.max_interval
            # Readiness reads this: the schedule is alive (core/observability/health.py).
            scheduler_ticked(self.scheduler)
            self._stopping.wait(self.scheduler.max_interval if delay is None else delay)

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop after the task in progress, waiting for it at most ``timeout`` seconds."""
        self._stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)


def periodic_tasks_start(*, app: Celery | None = None) -> PeriodicTasks:
    """Start ticking ``app``'s beat schedule (the project's by default) in a daemon thread."""
    thread = PeriodicTasks(app=app_or_default(app))
    thread.start()
    return thread
