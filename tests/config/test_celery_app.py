"""The Celery application's own hooks (config/celery.py)."""

from __future__ import annotations

import gc

from celery import signals

from config import celery as celery_app


def test_workers_freeze_what_they_loaded_at_start():
    """A worker (its main process, or each prefork child) moves what it loaded at start out
    of the garbage collector's walks, which otherwise cost every sync a share of each full
    collection."""
    for signal in (signals.worker_ready, signals.worker_process_init):
        receivers = [receiver for _key, receiver in signal.receivers]
        assert celery_app._freeze_startup_objects in receivers
    before = gc.get_freeze_count()
    try:
        celery_app._freeze_startup_objects()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
