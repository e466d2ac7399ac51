"""Fixtures for payouts: a service with a fee profile and a funded EUR balance."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances.models import Balance
from core.actors import Actor
from payouts import actions
from payouts.models import Payout
from tests.factories import BalanceFactory, FeeProfileFactory, ServiceFactory


@pytest.fixture
def system_actor() -> Actor:
    return Actor.system("tests")


@pytest.fixture
def fee_profile(db, system_actor):
    """1.5 % + 0.25 on EUR payouts, at least 0.50, at most 10.00, minimum payout 5.00:
    a payout of 100.00 EUR costs 1.75 EUR."""
    return FeeProfileFactory(
        name="Standard",
        description="Default pricing",
        actor=system_actor,
        rules=[
            {
                "operation": "payout",
                "currency": "EUR",
                "percentage": "1.5",
                "fixed_amount": "0.25",
                "minimum_fee": "0.50",
                "maximum_fee": "10.00",
                "minimum_payout_amount": "5.00",
            }
        ],
    )


@pytest.fixture
def priced_service(db, fee_profile):
    return ServiceFactory(name="Priced Payments", country="DE", fee_profile=fee_profile)


@pytest.fixture
def funded(priced_service):
    """The priced service's EUR balance: 1,000.00 available."""
    return BalanceFactory(service=priced_service, currency="EUR", available=Decimal("1000.00"))


@pytest.fixture
def make_payout(priced_service, funded, system_actor):
    def make(amount: str = "100.00", **kwargs):
        payout, created = actions.payout_create(
            service=kwargs.pop("service", priced_service),
            currency=kwargs.pop("currency", "EUR"),
            amount=Decimal(amount),
            destination=kwargs.pop("destination", "IBAN DE89 3704 0044 0532 0130 00"),
            actor=kwargs.pop("actor", system_actor),
            **kwargs,
        )
        assert created
        return payout

    return make


def held_on(service_id: int, currency: str = "EUR") -> Decimal:
    """``Balance.held`` of the service's ``currency`` balance, checked against what it stands
    for: amount + fee of the service's open payouts in that currency."""
    held = Balance.objects.get(service_id=service_id, currency=currency).held
    open_total = sum(
        (
            p.total
            for p in Payout.objects.filter(
                service_id=service_id, currency=currency, status__in=Payout.OPEN
            )
        ),
        Decimal(0),
    )
    assert held == open_total, f"held {held} but open payouts total {open_total}"
    return held
