"""Fixtures for approvals: an approver, a EUR policy, a service with a funded EUR balance."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from approvals.actions import policy_set
from core.actors import Actor
from tests.conftest import api_client_with_key
from tests.factories import BalanceFactory, ServiceFactory, UserFactory


@pytest.fixture
def approver(db):
    return UserFactory(username="april", role="approver")


@pytest.fixture
def approver_client(approver):
    client = Client()
    client.force_login(approver)
    return client


@pytest.fixture
def approver_api(approver, make_api_key):
    return api_client_with_key(make_api_key(approver))


@pytest.fixture
def operator_actor(operator) -> Actor:
    return Actor.for_user(operator, via="session")


@pytest.fixture
def approver_actor(approver) -> Actor:
    return Actor.for_user(approver, via="session")


@pytest.fixture
def eur_policy(db, admin):
    """EUR: manual changes above 1,000.00, payouts above 500.00 and deleting a non-zero
    balance need approval."""
    return policy_set(
        currency="EUR",
        manual_change_above="1000.00",
        payout_above="500.00",
        nonzero_deletion=True,
        actor=Actor.for_user(admin),
    )


@pytest.fixture
def shop(db):
    return ServiceFactory(name="Shop Payments", country="DE")


@pytest.fixture
def eur(shop):
    """5,000.00 EUR available."""
    return BalanceFactory(service=shop, currency="EUR", available=Decimal("5000.00"))


def amount(value: str) -> Decimal:
    return Decimal(value)
