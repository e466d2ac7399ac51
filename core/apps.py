from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: errors, actors, money, roles, API plumbing.  No models."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.core.signals import request_finished
        from django.db.backends.signals import connection_created

        from core.middleware import start_session_clocks
        from core.money.dbfields import register_sqlite_functions
        from core.observability import context as log_context
        from core.observability import eventlog, exposition

        user_logged_in.connect(start_session_clocks, dispatch_uid="core.session_clocks")
        connection_created.connect(register_sqlite_functions, dispatch_uid="core.sqlite_amounts")
        # Sync runs and payout statuses counted for /metrics, once committed.
        exposition.subscribe()
        eventlog.subscribe()
        # The request's log context ends with its response (core/observability/context.py).
        request_finished.connect(log_context.clear, dispatch_uid="core.log_context")
