from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: errors, actors, money, roles, API plumbing.  No models."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.backends.signals import connection_created

        from core.middleware import start_session_clocks
        from core.money.dbfields import register_sqlite_functions

        user_logged_in.connect(start_session_clocks, dispatch_uid="core.session_clocks")
        connection_created.connect(register_sqlite_functions, dispatch_uid="core.sqlite_amounts")
