"""Settings for measuring changes to the sync set-up without editing ``config/settings.py``:
the production settings plus what ``sync_bench.py --try …`` asks for through the environment.

* ``BENCH_DB_REUSE_MAX``: Celery's Django fix-up closes every database connection before and
  after every task unless ``CELERY_DB_REUSE_MAX`` is set; with it, a connection is closed only
  every that many tasks, so a task does not pay for a new PostgreSQL connection.
"""

from __future__ import annotations

import os

from config.settings import *  # noqa: F403

if os.environ.get("BENCH_DB_REUSE_MAX"):
    CELERY_DB_REUSE_MAX = int(os.environ["BENCH_DB_REUSE_MAX"])
