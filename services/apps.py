from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender, using="default", apps=None, **kwargs) -> None:
    """Keep the role groups in step after every migrate or flush (tests that flush the
    database get them back); the data migrations create them in the first place."""
    from django.apps import apps as global_apps

    from core.roles import sync_role_groups

    # flush sends no ``apps``; migrate sends its final state, which is the same models.
    sync_role_groups(global_apps, None, using=using)


class ServicesConfig(AppConfig):
    name = "services"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_ensure_roles, sender=self, dispatch_uid="services.ensure_roles")
