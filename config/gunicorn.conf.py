"""gunicorn's settings file: ``gunicorn -c config/gunicorn.conf.py config.wsgi``.

Only what operating the app needs: with ``PROMETHEUS_MULTIPROC_DIR`` set, every worker
process writes its metrics to files there and ``/metrics`` adds them up
(core/observability/exposition.py).  The directory is emptied when the server starts (values
of an earlier run would be counted again) and a worker that exits is marked dead, so that its
live gauges stop counting.  Bind address, workers and threads are given on the command line
or in ``GUNICORN_CMD_ARGS`` as usual.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any


def on_starting(server: Any) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not directory:
        return
    path = Path(directory)
    if path.is_dir():
        for entry in path.iterdir():
            if entry.is_file() and entry.suffix == ".db":
                entry.unlink()
            elif entry.is_dir():
                shutil.rmtree(entry)
    path.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
