"""Two operators deciding the same review at the same moment, with real concurrent
transactions on PostgreSQL: the row lock lets one decide; the other finds nothing waiting."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection as db_connection

from balances.models import BalanceChange, BalanceReview
from balances.reviews.actions import review_decide
from core.actors import Actor
from core.errors import NotFound
from tests.balances.reviews.conftest import usd
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

D_PROVIDER = Decimal("1250.50")  # what the provider reports (the held fixture)
D_MANUAL = Decimal("1100.00")  # the value set by hand


def test_two_decisions_at_once_apply_once(held, connected, operator):
    other = UserFactory(username="oge", role="operator")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(user, decision: str) -> None:
        barrier.wait()
        try:
            review_decide(
                service=connected, currency="USD", decision=decision, actor=Actor.for_user(user)
            )
            outcomes[user.username] = decision
        except NotFound:
            outcomes[user.username] = "nothing waiting"
        finally:
            db_connection.close()

    threads = [
        threading.Thread(target=decide, args=(operator, "accept_provider")),
        threading.Thread(target=decide, args=(other, "keep_manual")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(outcomes.values()).count("nothing waiting") == 1
    review = BalanceReview.objects.get()
    assert BalanceChange.objects.filter(kind="reviewed").count() == 1
    expected = D_PROVIDER if review.status == "accept_provider" else D_MANUAL
    assert usd(connected).available == expected
