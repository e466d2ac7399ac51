"""A small cast of users, one per role, and clients signed in as each."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import PASSWORD, BalanceFactory, ServiceFactory, UserFactory


@pytest.fixture
def viewer(db):
    return UserFactory(username="vera", role="viewer")


@pytest.fixture
def operator(db):
    return UserFactory(username="otto", role="operator")


@pytest.fixture
def admin(db):
    return UserFactory(username="ada", role="admin")


@pytest.fixture
def nobody(db):
    """Signed in, but in no group."""
    return UserFactory(username="nemo")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(viewer):
    return _client_for(viewer)


@pytest.fixture
def operator_client(operator):
    return _client_for(operator)


@pytest.fixture
def admin_client_role(admin):
    return _client_for(admin)


@pytest.fixture
def nobody_client(nobody):
    return _client_for(nobody)


@pytest.fixture
def clients(viewer, operator, admin, nobody):
    """Clients per role name, plus an anonymous one."""
    return {
        "anonymous": Client(),
        "nobody": _client_for(nobody),
        "viewer": _client_for(viewer),
        "operator": _client_for(operator),
        "admin": _client_for(admin),
    }


@pytest.fixture
def service(db):
    return ServiceFactory(name="Acme Payments", country="NG")


@pytest.fixture
def eur_balance(service):
    return BalanceFactory(service=service, currency="EUR")


@pytest.fixture
def password():
    return PASSWORD
