"""The Celery application: ``celery -A config worker`` and ``celery -A config beat``."""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Operability (core/observability/tasks.py): the request id travels with each task and is in
# its log lines; workers write heartbeats for readiness (beat does through its scheduler,
# CELERY_BEAT_SCHEDULER).  weak=False: the handlers are module functions, kept alive anyway.


def _django_logging(**_: object) -> None:
    """``setup_logging``: workers and beat log through Django's LOGGING (JSON lines with the
    request id, or text: LOG_FORMAT) instead of Celery's own format, which a receiver here
    replaces."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def _freeze_startup_objects(**_: object) -> None:
    """``worker_ready`` / ``worker_process_init``: move everything loaded at start (Django,
    the apps, Celery) out of the collector's reach.  A worker allocates quickly (rows, model
    instances, messages), so full collections are frequent, and each one walked every object
    of the process: a tenth of a second of CPU that the syncs were paying for.  What is
    frozen stays alive, as it did anyway; prefork children also keep sharing those pages."""
    import gc

    gc.collect()
    gc.freeze()


def _connect_signals() -> None:
    from core.observability import tasks

    signals.setup_logging.connect(_django_logging, weak=False)
    signals.before_task_publish.connect(tasks.add_headers, weak=False)
    signals.task_prerun.connect(tasks.bind_task, weak=False)
    signals.task_postrun.connect(tasks.unbind_task, weak=False)
    signals.worker_ready.connect(tasks.worker_started, weak=False)
    signals.worker_ready.connect(_freeze_startup_objects, weak=False)
    signals.worker_process_init.connect(_freeze_startup_objects, weak=False)
    signals.worker_shutdown.connect(tasks.worker_stopping, weak=False)


_connect_signals()
