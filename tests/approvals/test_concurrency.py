"""Two approvers approving one request at once, each in its own thread with its own
PostgreSQL connection: the row lock on the request makes the change apply exactly once."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from approvals import actions as approval_actions
from approvals.models import ApprovalRequest
from balances import actions as balance_actions
from balances.models import Balance, BalanceChange
from core.actors import Actor
from core.errors import NotAllowed
from payouts import actions as payout_actions
from payouts.models import Payout, PayoutEvent
from tests.db_helpers import Worker
from tests.factories import BalanceFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 10  # seconds; the threads normally meet within milliseconds


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def _wait_until(predicate) -> bool:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def world():
    assert connection.vendor == "postgresql", "locking is tested on PostgreSQL"
    admin = UserFactory(username="ada", role="admin")
    approval_actions.policy_set(
        currency="EUR",
        manual_change_above="100.00",
        payout_above="100.00",
        nonzero_deletion=False,
        actor=Actor.for_user(admin),
    )
    service = ServiceFactory(name="Race Ltd")
    balance = BalanceFactory(service=service, currency="EUR", available=Decimal("1000.00"))
    operator = Actor.for_user(UserFactory(username="otto", role="operator"))
    approvers = [
        Actor.for_user(UserFactory(username=name, role="approver")) for name in ("ann", "ben")
    ]
    return service, balance, operator, approvers


def race(first_actor, second_actor, public_id):
    """The first approver holds the request's lock, uncommitted, until the second one is
    queued behind it in PostgreSQL; then both finish."""
    first_applied = threading.Event()
    first_may_commit = threading.Event()

    def first():
        with transaction.atomic():
            done = approval_actions.approval_approve(approval=public_id, actor=first_actor)
            first_applied.set()
            assert first_may_commit.wait(WAIT)
        return done

    def second():
        assert first_applied.wait(WAIT)
        return approval_actions.approval_approve(approval=public_id, actor=second_actor)

    a, b = Worker(first), Worker(second)
    a.start()
    b.start()
    assert _wait_until(_waiting_on_a_lock), "the second approval never waited for the lock"
    first_may_commit.set()
    return a.outcome(), b.outcome()


def test_two_approvers_approving_at_once_apply_the_change_once(world):
    service, balance, operator, (ann, ben) = world
    request = balance_actions.balance_update_or_request(
        service=service,
        currency="EUR",
        amount="5000.00",
        expected_version=balance.version,
        actor=operator,
        reason="Statement",
    )
    assert isinstance(request, ApprovalRequest)

    won, lost = race(ann, ben, request.public_id)

    assert isinstance(won, ApprovalRequest) and won.status == "approved"
    assert isinstance(lost, NotAllowed) and lost.code == "not_pending", lost
    balance.refresh_from_db()
    assert balance.available == Decimal("5000.00") and balance.version == 2
    assert BalanceChange.objects.filter(kind="updated").count() == 1
    request.refresh_from_db()
    assert request.decided_by_label == "ann"


def test_two_approvers_of_a_payout_move_it_once(world):
    service, balance, operator, (ann, ben) = world
    payout, _ = payout_actions.payout_create(
        service=service, currency="EUR", amount="200.00", destination="acct", actor=operator
    )
    assert payout.status == "awaiting_approval"
    request = ApprovalRequest.objects.get(payout_public_id=payout.public_id)

    won, lost = race(ann, ben, request.public_id)

    assert isinstance(won, ApprovalRequest)
    assert isinstance(lost, NotAllowed)
    assert Payout.objects.get(pk=payout.pk).status == "pending"
    assert PayoutEvent.objects.filter(payout=payout, to_status="pending").count() == 1
    assert Balance.objects.get(pk=balance.pk).held == Decimal("200.00")
