from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: errors, actors, money, roles, API plumbing.  No models."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from core.middleware import start_session_clocks

        user_logged_in.connect(start_session_clocks, dispatch_uid="core.session_clocks")
