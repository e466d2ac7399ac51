"""`make run`'s server: ``runserver``, plus the periodic tasks of ``CELERY_BEAT_SCHEDULE`` in
the same process when tasks run in-process (``SCHEDULE_IN_PROCESS``, core/periodic.py)."""

from __future__ import annotations

import atexit
import signal
import sys
from typing import Any

from django.conf import settings
from whitenoise.runserver_nostatic.management.commands.runserver import (
    Command as RunserverCommand,
)

from core.periodic import PeriodicTasks, periodic_tasks_start


class Command(RunserverCommand):
    help = (
        "Serve the app as runserver does and run the periodic tasks (scheduled syncs and "
        "every other entry of CELERY_BEAT_SCHEDULE) in the same process: the embedded "
        "default's one command, without Redis, a worker or beat."
    )

    periodic: PeriodicTasks | None = None

    def handle(self, *args: Any, **options: Any) -> None:
        # A plain `kill` ends the process through atexit, which lets a task in progress
        # finish (the autoreloader installs the same handler in its processes).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        super().handle(*args, **options)

    def on_bind(self, server_port: int) -> None:
        super().on_bind(server_port)
        # Here rather than in handle(): with the autoreloader only its child process serves
        # (and starts the schedule, once), and the built-in sandboxes that scheduled syncs
        # call are served by this very server, which is now listening.
        if not settings.SCHEDULE_IN_PROCESS:
            self.stdout.write(
                "Periodic tasks do not run in this process (SCHEDULE_IN_PROCESS is off): "
                "run `make beat` and `make worker`."
            )
            return
        self.periodic = periodic_tasks_start()
        atexit.register(self.periodic.stop)
        self.stdout.write(f"Periodic tasks run in this process: {self.periodic.describe()}")
