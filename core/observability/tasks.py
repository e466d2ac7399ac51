"""Celery's side of operability, connected in config/celery.py:

* the request id (and the caller) of the request that queued a task rides in the message's
  headers and is bound while the task runs, so its log lines carry it; tasks run in-process
  keep the context of the code that ran them;
* each worker writes a heartbeat every ``WORKER_HEARTBEAT_SECONDS`` from a thread of its own
  (any pool), from ``worker_ready`` until shutdown;
* beat writes the scheduler's heartbeat as it ticks (:class:`HeartbeatScheduler`, set as
  ``CELERY_BEAT_SCHEDULER``).
"""

from __future__ import annotations

import logging
import threading
import time
from contextvars import Token
from typing import Any

from celery.beat import PersistentScheduler
from django.conf import settings

from core.observability import context, heartbeats

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "request_id"
USER_HEADER = "log_user"

# task id -> the token that undoes what task_prerun bound (task_postrun).
_bound: dict[str, Token[Any]] = {}
_bound_lock = threading.Lock()
_pulse: heartbeats.Pulse | None = None


def add_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """``before_task_publish``: the current request id and caller go with the message."""
    if headers is None:
        return
    request_id = context.request_id()
    if request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id
    caller = {**context.current(), **context.caller()}
    label = caller.get("user") or (f"key:{caller['api_key']}" if caller.get("api_key") else None)
    if label and USER_HEADER not in headers:
        headers[USER_HEADER] = str(label)[:150]


def bind_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """``task_prerun``: bind the message's request id (or keep the in-process caller's)."""
    if task is None or task_id is None:
        return
    request = task.request
    if getattr(request, "is_eager", False):
        token = context.push(task=task.name)
    else:
        token = context.replace(
            {
                "request_id": context.sane_request_id(request.get(REQUEST_ID_HEADER)),
                "user": request.get(USER_HEADER),
                "task": task.name,
            }
        )
    with _bound_lock:
        _bound[task_id] = token


def unbind_task(task_id: str | None = None, **_: Any) -> None:
    """``task_postrun``."""
    with _bound_lock:
        token = _bound.pop(task_id or "", None)
    if token is not None:
        try:
            context.pop(token)
        except ValueError:  # reset from another context: nothing of ours is left bound
            log.debug("task %s context already reset", task_id)


def worker_started(sender: Any = None, **_: Any) -> None:
    """``worker_ready``: start beating for this worker's host name."""
    global _pulse
    hostname = getattr(sender, "hostname", None) or "worker"
    _pulse = heartbeats.Pulse(
        lambda: heartbeats.worker_beat(hostname),
        interval=float(settings.WORKER_HEARTBEAT_SECONDS),
        name="worker-heartbeat",
    )
    _pulse.start()


def worker_stopping(**_: Any) -> None:
    """``worker_shutdown``."""
    if _pulse is not None:
        _pulse.stop()


class HeartbeatScheduler(PersistentScheduler):
    """Beat's default scheduler, writing the scheduler's heartbeat as it ticks (at most every
    few seconds; beat wakes at least every ``CELERY_BEAT_MAX_LOOP_INTERVAL``)."""

    _last_beat: float | None = None

    def tick(self, *args: Any, **kwargs: Any) -> float:
        delay = super().tick(*args, **kwargs)
        scheduler_ticked(self)
        return delay


def scheduler_ticked(scheduler: Any, *, every: float = 5.0) -> None:
    """Write the scheduler heartbeat unless ``scheduler`` wrote one in the last ``every``
    seconds; a Redis outage is logged, never raised into the scheduler."""
    now = time.monotonic()
    last = getattr(scheduler, "_last_beat", None)
    if last is not None and now - last < every:
        return
    try:
        heartbeats.scheduler_beat()
        scheduler._last_beat = now
    except Exception as exc:
        log.warning("scheduler heartbeat not written (%s)", type(exc).__name__)
