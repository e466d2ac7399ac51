"""A service connected to a real local SyncPay server, with a USD value corrected by hand: the
setting of every review test.  ``sync(usd=…)`` runs a real sync with the provider reporting
that USD amount (and NGN 7.00)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances.actions import balance_create, balance_update
from balances.models import Balance, BalanceReview
from core.actors import Actor
from tests.balances.sync.conftest import (  # noqa: F401 - fixtures
    _fast_retries,
    connect,
    provider,
    run_now,
)
from tests.factories import ServiceFactory
from tests.provider_server import SYNCPAY_PATH, syncpay_body

D = Decimal


@pytest.fixture
def service(db, operator):
    service = ServiceFactory(name="Abuja Market")
    for currency, amount in (("USD", "1000.00"), ("NGN", "5.00")):
        balance_create(
            service=service, currency=currency, amount=D(amount), actor=Actor.for_user(operator)
        )
    return service


@pytest.fixture
def hand_set(service, operator):
    """USD corrected by hand to 1,100.00 (version 2)."""
    return balance_update(
        service=service,
        currency="USD",
        amount=D("1100.00"),
        expected_version=1,
        actor=Actor.for_user(operator),
        reason="refund booked by hand",
    )


@pytest.fixture
def connected(service, provider, connect):  # noqa: F811 - fixtures
    connect(service, provider.url)
    return service


@pytest.fixture
def sync(connected, provider, run_now):  # noqa: F811 - fixtures
    def _sync(usd: str, ngn: str = "7.00", pending: str = "0.00"):
        provider.route(SYNCPAY_PATH, syncpay_body(("USD", usd, pending), ("NGN", ngn, "0.00")))
        run = run_now(connected)
        assert run.status == "succeeded", run.error_message
        return run

    return _sync


@pytest.fixture
def held(hand_set, sync):
    """A sync held USD for review: the provider reports 1,250.50."""
    sync("1250.50")
    return BalanceReview.objects.get(status="open")


def usd(service) -> Balance:
    return Balance.objects.get(service=service, currency="USD")


def review_url(service, currency="USD") -> str:
    return f"/services/{service.public_id}/balances/{currency}/review/"


def api_url(service, currency="USD") -> str:
    return f"/api/v1/services/{service.public_id}/balances/{currency}/review"
