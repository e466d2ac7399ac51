"""Fixtures for the alert rules and alerts tests: rules made through the action, a service
with a USD balance, and the actors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from alerts import actions
from core.actors import Actor
from tests.factories import BalanceFactory, ServiceFactory


@pytest.fixture
def admin_actor(admin) -> Actor:
    return Actor.for_user(admin)


@pytest.fixture
def operator_actor(operator) -> Actor:
    return Actor.for_user(operator)


@pytest.fixture
def watched(db):
    """A service with a USD balance of 150.00."""
    service = ServiceFactory(name="Watched Ltd")
    BalanceFactory(service=service, currency="USD", available=Decimal("150.00"))
    return service


@pytest.fixture
def make_rule(admin_actor):
    def make(*, service=None, currency="USD", kind="available_below", **fields):
        if kind == "available_below":
            fields.setdefault("threshold", "100.00")
        return actions.rule_create(
            service=service, currency=currency, kind=kind, actor=admin_actor, **fields
        )

    return make
