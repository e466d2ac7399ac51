"""Load the demo data once (users per role, services, balances with history, provider
connections wired to the built-in sandboxes) and print the demo login.

Safe to run at every start: existing demo data is left alone, except that the sandbox
connections are pointed at the app's own sandboxes (``settings.PROVIDER_SANDBOX_URL``, on the
port ``make run`` serves on), with the demo credentials entered again for that address:
stored credentials are bound to the base URL they were entered for.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from balances import actions
from balances.connections.actions import connection_save
from balances.sandbox import DEMO_CONNECTIONS
from core.actors import Actor
from payouts.actions import payout_create, payout_pay, payout_process
from services import actions as service_actions
from services.fees.actions import fee_profile_create, service_fee_profile_set
from services.models import ProviderConnection, Service

DEMO_USERS = (("admin", "admin"), ("operator", "operator"), ("viewer", "viewer"))

# name, country, provider kind (or None), [(currency, opening amount, [(new amount, reason)])]
DEMO_SERVICES = [
    (
        "Lagos Retail",
        "NG",
        "syncpay",
        [
            ("USD", "1250.50", [("1180.25", "Refund to customer #4411")]),
            ("NGN", "450000.00", []),
            ("GHS", "5600.00", []),
            ("USDT_TRC20", "500.12345678", [("512.00000001", "On-chain top-up")]),
        ],
    ),
    (
        "Berlin Marketplace",
        "DE",
        "wise",
        [
            ("EUR", "12500.75", [("12850.75", "Settlement batch 2026-11-20")]),
            ("GBP", "3200.00", []),
            ("USD", "8400.00", []),
        ],
    ),
    (
        "Tokyo Games",
        "JP",
        "finix",
        [
            ("JPY", "1250000", [("1249000", "Chargeback 88213")]),
            ("USD", "990.10", []),
            ("KWD", "1234.567", []),
        ],
    ),
    (
        "Nicosia Travel",
        "CY",
        "payop",
        [
            ("EUR", "1000.50", []),
            ("USD", "8000.50", []),
        ],
    ),
    (
        "Kuwait Exchange",
        "KW",
        None,
        [
            ("KWD", "15000.125", [("14990.125", "Manual correction after audit")]),
            ("USD", "-120.00", []),
        ],
    ),
    ("Accra Mobile Money", "GH", None, [("GHS", "780.40", []), ("USD", "0.00", [])]),
    ("Nairobi Tickets", "KE", None, [("KES", "250000.00", [])]),
    ("London Subscriptions", "GB", None, []),
]


FEE_PROFILE_SERVICES = {"Berlin Marketplace", "Lagos Retail", "Kuwait Exchange"}

# service: [(currency, amount, destination, transitions applied in order)]
DEMO_PAYOUTS = {
    "Berlin Marketplace": [
        (
            "EUR",
            "1200.00",
            "IBAN DE89 3704 0044 0532 0130 00 (supplier)",
            [payout_process, payout_pay],
        ),
        ("EUR", "350.00", "IBAN DE44 5001 0517 5407 3249 31 (refund batch)", [payout_process]),
        ("USD", "500.00", "ACH 021000021 / 1234567890", []),
    ],
    "Kuwait Exchange": [("KWD", "1000.500", "KW81 CBKU 0000 0000 0000 1234 5601 01", [])],
}


# The demo's balances open this long ago and their changes are spread over the weeks since,
# so that history, charts and "as of" answers have a past to show; payouts happen today.
DEMO_PAST = timedelta(days=45)


@contextmanager
def _as_of(moment: datetime) -> Iterator[None]:
    """Write as if it were ``moment``: every ``timezone.now()`` inside answers it.  For the
    demo data only (one process, before serving), never for real writes."""
    real = timezone.now
    timezone.now = lambda: moment  # type: ignore[assignment]
    try:
        yield
    finally:
        timezone.now = real  # type: ignore[assignment]


@contextmanager
def _before_any_policy() -> Iterator[None]:
    """The demo's past happened before any approval policy: its history is written as it
    was (by the admin, changes of any size), whatever ``APPROVAL_DEFAULTS`` says; the
    defaults apply again from the first real change on.  (A fresh database has no stored
    policy; the demo is only loaded into one without services.)"""
    configured = settings.APPROVAL_DEFAULTS
    settings.APPROVAL_DEFAULTS = ""
    try:
        yield
    finally:
        settings.APPROVAL_DEFAULTS = configured


class Command(BaseCommand):
    help = "Load the demo data (once) and print the demo login."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="Port of the local server.")

    def handle(self, *args, port: int, **options):
        passwords = self._users()
        if not Service.objects.exists():
            with transaction.atomic(), _before_any_policy():
                self._services()
            self.stdout.write("Demo services, balances and history loaded.")
        self._wire_sandboxes(port)
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Open http://127.0.0.1:{port}/ and log in with:"))
        for username, password in passwords.items():
            self.stdout.write(f"    {username:9} / {password}")
        self.stdout.write("")

    def _password_file(self) -> Path:
        return Path(settings.DEMO_LOGIN_FILE)

    def _users(self) -> dict[str, str]:
        path = self._password_file()
        known: dict[str, str] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                name, _, pw = line.partition(" ")
                if name and pw:
                    known[name] = pw
        result = {}
        for username, role in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None or username not in known:
                password = secrets.token_urlsafe(9)
                if user is None:
                    user = User(
                        username=username,
                        is_staff=(role == "admin"),
                        is_superuser=(role == "admin"),
                    )
                user.set_password(password)
                user.save()
                known[username] = password
            user.groups.add(Group.objects.get(name=role))
            result[username] = known[username]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{n} {p}\n" for n, p in result.items()))
        path.chmod(0o600)
        return result

    def _services(self) -> None:
        admin = User.objects.get(username="admin")
        actor = Actor.for_user(admin)
        standard = fee_profile_create(
            name="Standard",
            description="Default pricing for marketplace merchants.",
            actor=actor,
            rules=[
                {
                    "operation": "payout",
                    "currency": "",
                    "percentage": "1.5",
                    "fixed_amount": "0.25",
                    "minimum_fee": "0.50",
                },
                {
                    "operation": "payout",
                    "currency": "EUR",
                    "percentage": "1.5",
                    "fixed_amount": "0.25",
                    "minimum_fee": "0.50",
                    "maximum_fee": "25.00",
                    "minimum_payout_amount": "10.00",
                },
                {"operation": "payin", "currency": "", "percentage": "2.9", "fixed_amount": "0.30"},
                {"operation": "refund", "currency": "", "percentage": "0", "fixed_amount": "0.15"},
            ],
        )
        start = timezone.now() - DEMO_PAST
        for index, (name, country, kind, balances) in enumerate(DEMO_SERVICES):
            opened = start + timedelta(hours=3 * index)
            with _as_of(opened):
                service = service_actions.service_create(name=name, country=country, actor=actor)
            for currency, opening, changes in balances:
                with _as_of(opened):
                    actions.balance_create(
                        service=service,
                        currency=currency,
                        amount=Decimal(opening),
                        actor=actor,
                        reason="Opening amount",
                    )
                step = (DEMO_PAST - timedelta(days=5)) / (len(changes) + 1)
                for number, (amount, reason) in enumerate(changes, start=1):
                    balance = service.balances.get(currency=currency)
                    with _as_of(opened + number * step):
                        actions.balance_update(
                            service=service,
                            currency=currency,
                            amount=Decimal(amount),
                            expected_version=balance.version,
                            actor=actor,
                            reason=reason,
                        )
            if name in FEE_PROFILE_SERVICES:
                service_fee_profile_set(service=service, profile=standard, actor=actor)
            for currency, amount, destination, steps in DEMO_PAYOUTS.get(name, []):
                payout, _ = payout_create(
                    service=service,
                    currency=currency,
                    amount=Decimal(amount),
                    destination=destination,
                    actor=actor,
                )
                for step in steps:
                    step(payout=payout, actor=actor)
            sandbox = settings.PROVIDER_SANDBOX_URL
            if kind and sandbox:  # without the sandboxes there is nothing to connect to
                demo = DEMO_CONNECTIONS[kind]
                connection_save(
                    service=service,
                    kind=kind,
                    actor=actor,
                    base_url=f"{sandbox}/{kind}",
                    credentials=dict(demo["credentials"]),
                    options=dict(demo.get("options", {})),
                )

    def _wire_sandboxes(self, port: int) -> None:
        """Point the demo connections at the app's sandboxes (their address may differ from
        one start to the next).  A connection someone pointed elsewhere is left alone."""
        sandbox = settings.PROVIDER_SANDBOX_URL
        if not sandbox:
            return
        if urlsplit(sandbox).port != port:
            self.stdout.write(
                self.style.WARNING(
                    f"The sandboxes are expected at {sandbox}, not on port {port}: start with "
                    f"PORT={port} (make run does) or set PROVIDER_SANDBOX_URL."
                )
            )
        names = [s[0] for s in DEMO_SERVICES]
        connections = ProviderConnection.objects.filter(service__name__in=names)
        for connection in connections.select_related("service"):
            url = connection.base_url
            wanted = f"{sandbox}/{connection.kind}"
            if "/sandbox/" not in url or url == wanted or connection.kind not in DEMO_CONNECTIONS:
                continue
            # A new address needs the credentials again (they are bound to the address they
            # were entered for): the demo ones, which the sandbox of that kind accepts.
            connection_save(
                service=connection.service,
                kind=connection.kind,
                actor=Actor.system("demo data"),
                base_url=wanted,
                credentials=dict(DEMO_CONNECTIONS[connection.kind]["credentials"]),
                options=dict(connection.options or {}),
                create_missing_balances=connection.create_missing_balances,
            )
