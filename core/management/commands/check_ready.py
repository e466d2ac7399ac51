"""``python manage.py check_ready``: the readiness checks of ``/readyz`` for scripts.

Prints the same JSON on standard output; exits 0 when ready, 1 when a check fails (and
names the failing checks on standard error).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand

from core.observability import health


class Command(BaseCommand):
    help = (
        "Check the database, Redis, the workers' and the scheduler's heartbeats, as /readyz "
        "does; exit status 1 when one fails."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        state = health.readiness()
        self.stdout.write(json.dumps(state.as_json()))
        if not state.ready:
            failing = ", ".join(f"{name}: {word}" for name, word in state.failing().items())
            self.stderr.write(f"Not ready: {failing}")
            sys.exit(1)
