"""Settings for real workers that inject a fault into a sync step (test_worker.py):
``SYNC_TEST_FAULT`` names it.  The test settings, plus a hook that patches the step in the
worker process before its first task (a test's monkeypatch cannot reach another process).

* ``fetch``: the provider's JSON decoded as it used to be (``parse_float=Decimal``), so a
  number no decimal context holds raises ``InvalidOperation`` while the answer is read;
* ``apply``: the database connection is killed in the middle of the apply transaction, as a
  database restart would.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal

from celery.signals import task_prerun

from config.test_settings import *  # noqa: F403

_FAULT = os.environ.get("SYNC_TEST_FAULT", "")


def _old_decoder(body):
    return json.loads(body, parse_float=Decimal)


def _once(module, name, fault):
    """Replace ``module.name`` by ``fault`` for one call, then put the original back."""
    original = getattr(module, name)

    def replaced(*args, **kwargs):
        setattr(module, name, original)
        return fault(*args, **kwargs)

    setattr(module, name, replaced)


def _database_restarts(*args, **kwargs):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


_injected = False


@task_prerun.connect(weak=False)
def _inject_fault(**kwargs):
    global _injected
    if _injected:
        return
    _injected = True
    if _FAULT == "fetch":
        from balances.providers import http

        _once(http, "decode_json", _old_decoder)
    elif _FAULT == "apply":
        from balances.sync import apply

        # After the balances were written, before the run is finished: all rolled back.
        _once(apply, "_finish_run", _database_restarts)
