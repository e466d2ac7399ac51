"""What one payout creation costs in SQL statements, through the action and through the API.

Every payout on a balance queues for the balance's row lock, so the statements are named and
counted here: only the hold, the alert rules that listen to it and the commit run under the
lock.  The figure is printed by benchmarks/payouts_bench.py too."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.actors import Actor
from payouts import actions, creation
from payouts.models import Payout, PayoutEvent
from services.models import AuditEntry

pytestmark = pytest.mark.django_db

CREATE = {"currency": "EUR", "amount": "100.00", "destination": "IBAN DE89 3704"}


def statements(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries]


def lock_position(sqls: list[str]) -> int:
    """Where the balance row is locked: the hold's UPDATE ... RETURNING."""
    [position] = [i for i, sql in enumerate(sqls) if sql.startswith('UPDATE "balances_balance"')]
    assert "RETURNING" in sqls[position]
    return position


def test_a_payout_by_a_person_on_a_balance_no_rule_watches_is_one_statement(
    priced_service, funded, operator, django_assert_num_queries, django_capture_on_commit_callbacks
):
    actor = Actor.for_user(operator)
    first, _ = actions.payout_create(  # finds that no alert rule watches the balance
        service=priced_service, currency="EUR", amount="10.00", destination="x", actor=actor
    )
    # Before the lock: 1 the service, the payout already made with this idempotency key
    # (none), whether a rule watches the balance, the currency's approval policy and the
    # fee rule in force.  Then ONE statement, its own transaction outside a test (2 and 4
    # are the test's SAVEPOINT and RELEASE SAVEPOINT around it): 3 the hold (UPDATE ...
    # RETURNING: the row lock, the funds check, still unwatched, still no approval needed),
    # the payout, its timeline entry and the audit entry.  After the commit: 5 and 6 the
    # active webhooks, for the balance change and for the payout's status (here the test's
    # transaction runs them after the action; after a real commit they share one reading,
    # tests/payouts/test_after_commit_reads.py).
    with (
        django_assert_num_queries(6) as captured,
        django_capture_on_commit_callbacks(execute=True),
    ):
        payout, created = actions.payout_create(
            service=priced_service,
            currency="EUR",
            amount="100.00",
            destination="acct",
            actor=actor,
            idempotency_key="k-1",
        )
    assert created and payout.status == Payout.Status.PENDING
    sqls = statements(captured)
    [one] = [sql for sql in sqls if sql.startswith("WITH")]
    assert one.startswith('WITH h AS (UPDATE "balances_balance"')
    for table in ('"payouts_payout"', '"payouts_payoutevent"', '"services_auditentry"'):
        assert f"INSERT INTO {table}" in one
    assert sqls.index(one) == 2
    assert not [s for s in sqls if "FOR UPDATE" in s]  # the hold's statement takes the lock
    assert AuditEntry.objects.filter(object_id=payout.public_id).count() == 1
    entry = AuditEntry.objects.get(object_id=payout.public_id)
    assert (entry.action, entry.actor_user, entry.changes["amount"]) == (
        "payout_created",
        operator,
        "100.00",
    )
    [event] = PayoutEvent.objects.filter(payout=payout)
    assert (event.to_status, event.actor_user) == ("pending", operator)
    stored = Payout.objects.get(pk=payout.pk)
    assert (stored.public_id, stored.amount, stored.fee, stored.idempotency_key) == (
        payout.public_id,
        Decimal("100.00"),
        Decimal("1.75"),
        "k-1",
    )
    assert funded.__class__.objects.get(pk=funded.pk).held == first.total + Decimal("101.75")


def test_a_payout_on_a_balance_a_rule_watches_is_written_in_a_transaction(
    priced_service,
    funded,
    operator,
    admin,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    from alerts.actions import rule_create

    rule_create(
        service=priced_service,
        currency="EUR",
        kind="available_for_payout_below",
        threshold="1.00",
        actor=Actor.for_user(admin),
    )
    actor = Actor.for_user(operator)
    # Before the lock: 1 the service, the key's payout, watched, the policy and the fee rule;
    # 2 SAVEPOINT (the action's transaction); 3 INSERT the payout; 4 INSERT its timeline
    # entry; 5 INSERT the audit entry.  Under the lock: 6 UPDATE the balance's held ...
    # RETURNING the row (the lock, the funds check and the hold); 7 the alert rules with
    # their open alert on this balance (alerts evaluate in the writer's transaction);
    # 8 RELEASE SAVEPOINT (the commit).  After the commit: 9 and 10 the active webhooks.
    with (
        django_assert_num_queries(10) as captured,
        django_capture_on_commit_callbacks(execute=True),
    ):
        payout, created = actions.payout_create(
            service=priced_service,
            currency="EUR",
            amount="100.00",
            destination="acct",
            actor=actor,
            idempotency_key="k-1",
        )
    assert created and payout.status == Payout.Status.PENDING
    sqls = statements(captured)
    locked_at = lock_position(sqls)
    assert '"alerts_alertrule"' in sqls[locked_at + 1]
    assert sqls[locked_at + 2].startswith("RELEASE SAVEPOINT")
    assert not [s for s in sqls if "FOR UPDATE" in s]  # the hold's statement takes the lock
    assert AuditEntry.objects.filter(object_id=payout.public_id).count() == 1
    assert PayoutEvent.objects.filter(payout=payout).count() == 1


def test_a_replay_of_the_same_key_costs_two_statements_and_takes_no_lock(
    priced_service, funded, system_actor, django_assert_num_queries
):
    first, _ = actions.payout_create(
        service=priced_service,
        currency="EUR",
        amount="100.00",
        destination="acct",
        actor=system_actor,
        idempotency_key="k-1",
    )
    # 1 the service, with the payout already made with the key; 2 that payout.
    with django_assert_num_queries(2) as captured:
        again, created = actions.payout_create(
            service=priced_service,
            currency="EUR",
            amount="100.00",
            destination="acct",
            actor=system_actor,
            idempotency_key="k-1",
        )
    assert (again.pk, created) == (first.pk, False)
    assert not [s for s in statements(captured) if "FOR UPDATE" in s or s.startswith("UPDATE")]


def test_a_payout_through_the_api_costs_nine_statements(
    priced_service,
    funded,
    operator_api,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    url = f"/api/v1/services/{priced_service.public_id}/payouts"
    warm = operator_api.post(url, CREATE, content_type="application/json")
    assert warm.status_code == 201  # also records the key's last use (once a minute)

    # 1 the API key with its user; 2 the user's permissions (own and groups', one UNION);
    # 3 the service (404 if unknown); then the action: 4 the service, the payout already
    # made with the Idempotency-Key, whether a rule watches the balance, the approval policy
    # and the fee rule; 6 ONE statement: the hold, the payout, its timeline entry and the
    # audit entry (5 and 7 are the test's SAVEPOINT around it); 8 and 9 the active webhooks
    # (on commit; one reading after a real commit, tests/payouts/test_after_commit_reads.py).
    # The answer's timeline is the entry just written: not read back.
    with (
        django_assert_num_queries(9) as captured,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = operator_api.post(
            url, CREATE, content_type="application/json", headers={"Idempotency-Key": "a-1"}
        )
    assert response.status_code == 201
    data = response.json()
    assert data["status"] == "pending"
    assert Decimal(str(data["fee"])) == Decimal("1.75")
    assert [entry["toStatus"] for entry in data["events"]] == ["pending"]
    sqls = statements(captured)
    [one] = [sql for sql in sqls if sql.startswith("WITH")]
    assert sqls.index(one) == 5 and one.startswith('WITH h AS (UPDATE "balances_balance"')
    held = funded.__class__.objects.get(pk=funded.pk).held
    assert held == Decimal("203.50")


def test_a_policy_set_between_pricing_and_the_lock_is_the_one_that_applies(
    priced_service, funded, admin, system_actor, monkeypatch
):
    """The rules read before the lock are a guess; the ones read by the hold's statement
    decide.  A limit set in between makes the payout wait for approval, written once."""
    from approvals.actions import policy_set
    from approvals.models import ApprovalRequest

    prepare = creation._prepare

    def prepare_then_policy_set(*args, **kwargs):
        found = prepare(*args, **kwargs)
        policy_set(
            currency="EUR",
            manual_change_above=None,
            payout_above="50.00",
            nonzero_deletion=False,
            actor=Actor.for_user(admin),
        )
        return found

    monkeypatch.setattr(creation, "_prepare", prepare_then_policy_set)
    payout, created = actions.payout_create(
        service=priced_service,
        currency="EUR",
        amount="100.00",
        destination="acct",
        actor=system_actor,
        idempotency_key="k-1",
    )

    assert created and payout.status == Payout.Status.AWAITING_APPROVAL
    assert Payout.objects.filter(service=priced_service).count() == 1
    assert [e.to_status for e in PayoutEvent.objects.filter(payout=payout)] == [payout.status]
    assert ApprovalRequest.objects.filter(payout_public_id=payout.public_id).count() == 1
    assert funded.__class__.objects.get(pk=funded.pk).held == Decimal("101.75")
