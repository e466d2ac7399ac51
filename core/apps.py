from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: errors, actors, money, roles, API plumbing.  No models."""

    name = "core"
    verbose_name = "Core"
