"""The payout state machine: every transition allowed and refused, and what each does to
the balance and the holds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances.models import BalanceChange
from core.actors import ActorType
from core.errors import NotAllowed, StaleVersion
from payouts import actions
from payouts.models import Payout
from tests.payouts.conftest import held_on

pytestmark = pytest.mark.django_db
D = Decimal
S = Payout.Status
STATUSES = [S.PENDING, S.PROCESSING, S.PAID, S.FAILED, S.CANCELED]
TARGETS = [S.PROCESSING, S.PAID, S.FAILED, S.CANCELED]
ALLOWED = {
    (S.PENDING, S.PROCESSING),
    (S.PENDING, S.FAILED),
    (S.PENDING, S.CANCELED),
    (S.PROCESSING, S.PAID),
    (S.PROCESSING, S.FAILED),
    (S.PROCESSING, S.CANCELED),
}
# How to reach each status from pending.
PATHS = {
    S.PENDING: [],
    S.PROCESSING: [S.PROCESSING],
    S.PAID: [S.PROCESSING, S.PAID],
    S.FAILED: [S.FAILED],
    S.CANCELED: [S.CANCELED],
}


def bring_to(payout, status, actor):
    for step in PATHS[status]:
        payout = actions.payout_transition(payout=payout, to_status=step, actor=actor)
    return payout


@pytest.mark.parametrize("to_status", TARGETS)
@pytest.mark.parametrize("from_status", STATUSES)
def test_every_transition(make_payout, system_actor, from_status, to_status):
    payout = bring_to(make_payout(), from_status, system_actor)
    before = (payout.status, payout.version, payout.events.count())
    if (from_status, to_status) in ALLOWED:
        done = actions.payout_transition(payout=payout, to_status=to_status, actor=system_actor)
        assert done.status == to_status
        assert done.version == before[1] + 1
        assert done.events.count() == before[2] + 1
        assert (done.ended_at is None) == (to_status == S.PROCESSING)
    else:
        with pytest.raises(NotAllowed) as exc:
            actions.payout_transition(payout=payout, to_status=to_status, actor=system_actor)
        assert exc.value.http_status == 409 and exc.value.code == "invalid_transition"
        payout.refresh_from_db()
        assert (payout.status, payout.version, payout.events.count()) == before


def test_the_named_actions_map_to_their_states(make_payout, system_actor):
    payout = make_payout()
    assert actions.actions_allowed(payout) == ["process", "fail", "cancel"]
    payout = actions.payout_process(payout=payout, actor=system_actor)
    assert actions.actions_allowed(payout) == ["pay", "fail", "cancel"]
    payout = actions.payout_pay(payout=payout, actor=system_actor)
    assert payout.status == "paid" and actions.actions_allowed(payout) == []
    assert actions.payout_fail(payout=make_payout(), actor=system_actor).status == "failed"
    assert actions.payout_cancel(payout=make_payout(), actor=system_actor).status == "canceled"


def test_paid_debits_amount_plus_fee_with_the_payout_as_actor(make_payout, funded, system_actor):
    payout = bring_to(make_payout("100.00"), S.PROCESSING, system_actor)
    version = funded.version
    actions.payout_pay(payout=payout, actor=system_actor)
    funded.refresh_from_db()
    assert funded.available == D("898.25")
    assert funded.version == version + 1
    assert funded.updated_by_type == ActorType.PAYOUT
    change = BalanceChange.objects.get(kind="payout")
    assert (change.old_available, change.new_available) == (D("1000.00"), D("898.25"))
    assert change.actor_type == ActorType.PAYOUT
    assert change.payout_public_id == payout.public_id
    assert change.actor_label == f"payout:{payout.public_id}"
    assert change.actor_user is None
    assert held_on(funded.service_id) == 0


def test_paying_leaves_available_for_payout_unchanged(make_payout, funded, system_actor):
    payout = bring_to(make_payout("100.00"), S.PROCESSING, system_actor)
    funded.refresh_from_db()
    free_before = funded.available_for_payout
    actions.payout_pay(payout=payout, actor=system_actor)
    funded.refresh_from_db()
    free_after = funded.available_for_payout
    assert held_on(funded.service_id) == 0
    assert free_before == free_after == D("898.25")


@pytest.mark.parametrize("from_status", [S.PENDING, S.PROCESSING])
@pytest.mark.parametrize("to_status", [S.FAILED, S.CANCELED])
def test_failed_and_canceled_only_end_the_hold(
    make_payout, funded, system_actor, from_status, to_status
):
    payout = bring_to(make_payout("100.00"), from_status, system_actor)
    assert held_on(funded.service_id) == D("101.75")
    done = actions.payout_transition(
        payout=payout, to_status=to_status, actor=system_actor, reason="Beneficiary bank refused"
    )
    funded.refresh_from_db()
    assert funded.available == D("1000.00") and funded.version == 1
    assert not BalanceChange.objects.filter(kind="payout").exists()
    assert held_on(funded.service_id) == 0
    assert done.events.last().note == "Beneficiary bank refused"
    assert done.failure_reason == ("Beneficiary bank refused" if to_status == S.FAILED else "")


def test_the_timeline_records_who_did_what(make_payout, operator):
    from core.actors import Actor

    payout = make_payout()
    actions.payout_process(payout=payout, actor=Actor.for_user(operator))
    events = list(payout.events.values_list("from_status", "to_status", "actor_label"))
    assert events == [("", "pending", "tests"), ("pending", "processing", operator.username)]


def test_a_transition_based_on_an_old_version_is_refused(make_payout, system_actor):
    payout = make_payout()
    actions.payout_process(payout=payout, actor=system_actor)
    with pytest.raises(StaleVersion):
        actions.payout_cancel(payout=payout, actor=system_actor, expected_version=1)
    payout.refresh_from_db()
    assert payout.status == "processing"


def test_the_database_refuses_an_open_payout_with_an_end(make_payout):
    from django.db import IntegrityError, transaction

    payout = make_payout()
    with pytest.raises(IntegrityError), transaction.atomic():
        Payout.objects.filter(pk=payout.pk).update(status="paid")  # no ended_at
