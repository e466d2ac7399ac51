"""``manage.py demo_data``: what ``make run`` loads on a fresh clone."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command

from balances.models import Balance, BalanceChange
from core.money import currencies
from services.models import Service

pytestmark = pytest.mark.django_db

REQUIRED_CURRENCIES = {"EUR", "USD", "GBP", "NGN", "JPY", "KWD", "USDT_TRC20"}


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    # The command keeps the demo passwords in a file; never touch the real one.
    settings.DEMO_LOGIN_FILE = tmp_path / "var" / "demo-login.txt"


def demo_data() -> str:
    out = io.StringIO()
    call_command("demo_data", "--port", "8123", stdout=out)
    return out.getvalue()


def _snapshot():
    return (
        sorted(User.objects.values_list("username", flat=True)),
        sorted(Service.objects.values_list("public_id", "name")),
        sorted(Balance.objects.values_list("service__name", "currency", "available", "version")),
        BalanceChange.objects.count(),
    )


def test_demo_data_creates_role_users_services_balances_and_history():
    output = demo_data()

    for role in ("viewer", "operator", "admin"):
        user = User.objects.get(username=role)
        assert user.groups.filter(name=role).exists()
    assert Service.objects.count() >= 3
    assert set(Balance.objects.values_list("currency", flat=True)) >= REQUIRED_CURRENCIES
    updates = BalanceChange.objects.filter(kind=BalanceChange.Kind.UPDATED)
    assert updates.exists()
    assert all(change.reason for change in updates)
    assert "Open http://127.0.0.1:8123/ and log in with:" in output


def test_demo_data_prints_a_login_that_works():
    output = demo_data()
    lines = [line.split() for line in output.splitlines() if " / " in line]
    logins = {parts[0]: parts[2] for parts in lines}
    assert set(logins) == {"viewer", "operator", "admin"}
    for username, password in logins.items():
        assert authenticate(username=username, password=password) is not None, username


def test_running_demo_data_twice_duplicates_nothing_and_keeps_the_login():
    first = demo_data()
    before = _snapshot()
    second = demo_data()
    assert _snapshot() == before
    assert [line for line in first.splitlines() if " / " in line] == [
        line for line in second.splitlines() if " / " in line
    ]


def test_demo_amounts_respect_their_currency_precision():
    demo_data()
    for balance in Balance.objects.all():
        assert currencies.check_precision(balance.available, balance.currency) == balance.available


def test_demo_connections_follow_the_sandbox_address_with_credentials_bound_to_it(settings):
    from balances.connections.actions import connection_config
    from services.models import ProviderConnection

    settings.PROVIDER_SANDBOXES = True
    settings.PROVIDER_SANDBOX_URL = "http://127.0.0.1:8123/sandbox"
    demo_data()
    settings.PROVIDER_SANDBOX_URL = "http://127.0.0.1:8124/sandbox"
    demo_data()

    connections = list(ProviderConnection.objects.all())
    assert connections
    for connection in connections:
        assert connection.base_url == f"http://127.0.0.1:8124/sandbox/{connection.kind}"
        # Entered again for the new address: usable there, so a sync sends them.
        assert connection_config(connection).credentials


def test_without_sandboxes_the_demo_has_no_connections(settings):
    from services.models import ProviderConnection

    settings.PROVIDER_SANDBOXES = False
    settings.PROVIDER_SANDBOX_URL = ""
    demo_data()
    assert not ProviderConnection.objects.exists()


def test_the_demo_has_a_past_that_ends_in_todays_balances():
    from datetime import timedelta

    from django.utils import timezone

    from balances.history.asof import balances_as_of

    demo_data()
    now = timezone.now()
    oldest = BalanceChange.objects.order_by("created_at").first()
    assert now - timedelta(days=46) < oldest.created_at < now - timedelta(days=44)
    for service in Service.objects.all():
        # The history replayed up to now is exactly what the balances are.
        then = {b.currency: b.available for b in balances_as_of(service, now)}
        assert then == dict(service.balances.values_list("currency", "available"))
        # A month ago every demo balance already existed, at its opening amount or later.
        assert set(b.currency for b in balances_as_of(service, now - timedelta(days=30))) == set(
            then
        )
    edited = BalanceChange.objects.filter(kind="updated")
    assert edited.exists() and all(c.created_at < now - timedelta(days=4) for c in edited)


def test_demo_data_loads_whatever_the_approval_defaults_and_they_apply_afterwards(settings):
    """The demo's past happened before any policy; from then on the defaults hold."""
    from approvals.models import ApprovalRequest
    from balances.actions import ApprovalRequired
    from core.actors import Actor

    codes = sorted(REQUIRED_CURRENCIES)
    strict = ";".join(f"{code}:manual=0,payout=0" for code in codes)
    settings.APPROVAL_DEFAULTS = strict
    demo_data()
    assert BalanceChange.objects.filter(kind=BalanceChange.Kind.UPDATED).exists()
    assert not ApprovalRequest.objects.exists()
    assert strict == settings.APPROVAL_DEFAULTS
    balance = Balance.objects.filter(currency=codes[0]).select_related("service").first()
    admin = User.objects.get(username="admin")
    with pytest.raises(ApprovalRequired):
        from balances.actions import balance_update

        balance_update(
            service=balance.service,
            currency=balance.currency,
            amount=balance.available + 1,
            expected_version=None,
            actor=Actor.for_user(admin),
            reason="after the demo",
        )
