"""python manage.py create_api_token <username> [--read-only] [--name NAME]

Prints the new key alone on the last line, once (only its hash is stored), so a script can
take it with ``| tail -n 1``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import DomainError
from services.accounts.actions import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a user and print it (once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--read-only", action="store_true", help="The key can read but never write."
        )
        parser.add_argument("--name", default="", help="What will use the key.")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(options["username"])
        except user_model.DoesNotExist:
            raise CommandError(f"No user named {options['username']!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {options['username']!r} is inactive.")
        name = options["name"] or "command line"
        try:
            key, raw = api_key_create(user=user, name=name, read_only=options["read_only"])
        except DomainError as exc:
            raise CommandError(exc.message) from None
        access = "read-only" if key.read_only else "read-write"
        self.stderr.write(
            f"Created {access} API key “{key.name}” ({key.prefix}…) for {user.get_username()}. "
            "Store it now: it cannot be shown again."
        )
        self.stdout.write(raw)
