"""Lock order across apps, on PostgreSQL: each test forces the interleaving that deadlocked
while two writers took the same rows in opposite orders, each writer in its own thread with
its own connection, and checks that both now finish, with the right outcome.

A writer is paused just before a given statement (``pause_before``); the other one then
runs until it finishes or waits for a lock; then the first goes on.  PostgreSQL detects a
deadlock within its ``deadlock_timeout`` (1 s) and fails one side with an OperationalError,
so a regression fails the test rather than hangs it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, transaction

from core.actors import Actor
from tests import db_helpers
from tests.factories import BalanceFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 10  # seconds; the threads normally meet within milliseconds


class Worker(db_helpers.Worker):
    """A deadlock is what these tests guard against: never an acceptable outcome."""

    def outcome(self):
        found = super().outcome()
        assert not isinstance(found, OperationalError), found
        return found


def waiting_on_lock(n: int = 1) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] >= n


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def done_or_waiting(worker: Worker) -> bool:
    return not worker.is_alive() or waiting_on_lock()


class Pause:
    """Runs ``target`` on this thread's connection, paused before the first statement that
    ``matches`` until :meth:`go`."""

    def __init__(self, matches: Callable[[str], bool]):
        self.matches = matches
        self.reached = threading.Event()
        self._go = threading.Event()

    def run(self, target: Callable[[], object]) -> Callable[[], object]:
        def wrapper(execute, sql, params, many, context):
            if not self.reached.is_set() and self.matches(sql):
                self.reached.set()
                assert self._go.wait(WAIT)
            return execute(sql, params, many, context)

        def paused():
            with connection.execute_wrapper(wrapper):
                return target()

        return paused

    def go(self) -> None:
        self._go.set()


def locking(table: str) -> Callable[[str], bool]:
    """A SELECT … FOR UPDATE (or FOR NO KEY UPDATE) that reads ``table`` itself."""
    return lambda sql: f'FROM "{table}"' in sql and "FOR " in sql and "UPDATE" in sql


@pytest.fixture(autouse=True)
def _postgresql():
    assert connection.vendor == "postgresql", "locking is tested on PostgreSQL"


# --- approvals: a balance's request is locked after the balance ------------------------------


@pytest.fixture
def balance_request():
    from approvals import actions as approval_actions
    from approvals.models import ApprovalRequest

    service = ServiceFactory(name="Race")
    balance = BalanceFactory(service=service, currency="EUR", available=Decimal("100.00"))
    request = approval_actions.approval_request(
        kind=ApprovalRequest.Kind.BALANCE_UPDATE,
        service=service,
        currency="EUR",
        actor=Actor.for_user(UserFactory(username="asker")),
        reason="Statement",
        balance_version=balance.version,
        current_value=balance.available,
        proposed_value=Decimal("200.00"),
    )
    return service, balance, request


def _delete(service):
    from balances import actions as balance_actions

    return lambda: balance_actions.balance_delete(
        service=service, currency="EUR", actor=Actor.system("ops")
    )


def _while_deleting(service, table: str, action):
    """Run ``action`` on a thread of its own until it is about to lock ``table``, delete the
    service's EUR balance meanwhile (until it finishes or waits for a lock), then let the
    action go on: (what the action gave, what the deletion gave)."""
    pause = Pause(locking(table))
    acting = Worker(pause.run(action))
    acting.start()
    assert pause.reached.wait(WAIT)
    delete = Worker(_delete(service))
    delete.start()
    assert wait_until(lambda: done_or_waiting(delete))
    pause.go()
    return acting.outcome(), delete.outcome()


def test_approving_while_the_balance_is_deleted(balance_request):
    """The approver reaches the balance's lock (it used to hold the request's by then); the
    deletion closes the request meanwhile: the approval finds it rejected."""
    from approvals import actions as approval_actions
    from approvals.models import ApprovalRequest
    from balances.models import Balance, BalanceChange
    from core.errors import NotAllowed

    service, _, request = balance_request
    approver = Actor.for_user(UserFactory(username="ann"))
    approved, deleted = _while_deleting(
        service,
        "balances_balance",
        lambda: approval_actions.approval_approve(approval=request.public_id, actor=approver),
    )

    assert deleted is None
    assert isinstance(approved, NotAllowed) and approved.code == "not_pending", approved
    assert not Balance.objects.exists()
    assert ApprovalRequest.objects.get(pk=request.pk).status == "rejected"
    assert not BalanceChange.objects.filter(kind="updated").exists()


def test_approving_holds_the_balance_then_the_deletion_proceeds(balance_request):
    """The approver holds the balance's lock when it locks the request: the deletion waits,
    the change is applied, then the balance is deleted."""
    from approvals import actions as approval_actions
    from approvals.models import ApprovalRequest
    from balances.models import Balance, BalanceChange

    service, _, request = balance_request
    approver = Actor.for_user(UserFactory(username="ann"))
    approved, deleted = _while_deleting(
        service,
        "approvals_approvalrequest",
        lambda: approval_actions.approval_approve(approval=request.public_id, actor=approver),
    )

    assert isinstance(approved, ApprovalRequest) and approved.status == "approved", approved
    assert deleted is None
    assert not Balance.objects.exists()
    kinds = list(BalanceChange.objects.order_by("id").values_list("kind", flat=True))
    assert kinds[-2:] == ["updated", "deleted"]
    assert ApprovalRequest.objects.get(pk=request.pk).status == "approved"


def test_renewing_while_the_balance_is_deleted(balance_request):
    """A request whose balance moved is renewed while the balance is deleted: the renewal
    finds it closed, and nothing new waits."""
    from approvals import actions as approval_actions
    from approvals.models import ApprovalRequest
    from balances import actions as balance_actions
    from balances.models import Balance
    from core.errors import NotAllowed

    service, balance, request = balance_request
    balance_actions.balance_update(
        service=service,
        currency="EUR",
        amount="150.00",
        expected_version=balance.version,
        actor=Actor.system("sync"),
        reason="moved",
    )
    renewer = Actor.for_user(UserFactory(username="ben"))
    renewed, deleted = _while_deleting(
        service,
        "balances_balance",
        lambda: approval_actions.approval_renew(approval=request.public_id, actor=renewer),
    )

    assert deleted is None
    assert isinstance(renewed, NotAllowed) and renewed.code == "not_renewable", renewed
    assert not Balance.objects.exists()
    assert list(ApprovalRequest.objects.values_list("status", flat=True)) == ["rejected"]


def test_two_approvers_at_once_apply_the_change_once(balance_request):
    from approvals import actions as approval_actions
    from approvals.models import ApprovalRequest
    from balances.models import Balance, BalanceChange
    from core.errors import NotAllowed

    _, _, request = balance_request
    barrier = threading.Barrier(2)

    def approve(name):
        actor = Actor.for_user(UserFactory(username=name))
        barrier.wait(WAIT)
        return approval_actions.approval_approve(approval=request.public_id, actor=actor)

    workers = [Worker(lambda n=n: approve(n)) for n in ("ann", "ben")]
    for worker in workers:
        worker.start()
    outcomes = [worker.outcome() for worker in workers]

    assert sorted(type(o).__name__ for o in outcomes) == ["ApprovalRequest", "NotAllowed"]
    assert all(o.code == "not_pending" for o in outcomes if isinstance(o, NotAllowed))
    assert BalanceChange.objects.filter(kind="updated").count() == 1
    assert Balance.objects.get().available == Decimal("200.00")
    assert ApprovalRequest.objects.get(pk=request.pk).status == "approved"


def test_two_first_policies_of_a_currency_at_once():
    """Both calls find no policy, both insert: the second insert waits for the first's
    commit, then updates the row the first created."""
    from approvals import actions as approval_actions
    from approvals.models import ApprovalPolicy
    from core.money import currencies
    from services.models import AuditEntry

    both_looked = threading.Barrier(2)

    def set_policy(limit):
        looked = threading.Event()

        def after_the_lookup(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if not looked.is_set() and locking("approvals_approvalpolicy")(sql):
                looked.set()
                both_looked.wait(WAIT)  # both found no policy
            return result

        with connection.execute_wrapper(after_the_lookup):
            return approval_actions.policy_set(
                currency="CHF",
                manual_change_above=limit,
                payout_above=None,
                nonzero_deletion=False,
                actor=Actor.system("admin"),
            )

    workers = [Worker(lambda limit=limit: set_policy(limit)) for limit in ("10", "20")]
    for worker in workers:
        worker.start()
    outcomes = [worker.outcome() for worker in workers]

    assert all(isinstance(o, ApprovalPolicy) for o in outcomes), outcomes
    policy = ApprovalPolicy.objects.get()
    entries = list(
        AuditEntry.objects.filter(object_type="approval_policy")
        .order_by("id")
        .values_list("action", "changes")
    )
    assert [action for action, _ in entries] == ["policy_created", "policy_changed"]
    first, later = entries[0][1]["manualChangeAbove"], entries[1][1]["manualChangeAbove"]
    # The later call replaced what the first created, and its figure is the one kept.
    assert first[0] is None and later[0] == first[1]
    assert {first[1], later[1]} == {"10.00", "20.00"}
    assert currencies.plain_amount(policy.manual_change_above, "CHF") == later[1]


# --- alerts: a rule's change holds a lock that an alert's insert does not wait for ----------


@pytest.fixture
def payout_paused_under_its_balance_lock(monkeypatch):
    """A watched balance under an all-services rule, and a payout that will take it below
    the threshold, paused while it holds the balance's lock, before the rules are read."""
    from alerts import actions as alert_actions
    from alerts import evaluate
    from alerts.models import Alert
    from payouts import actions as payout_actions

    service = ServiceFactory(name="Race")
    BalanceFactory(service=service, currency="EUR", available=Decimal("100.00"), watched=True)
    admin = Actor.system("admin")
    rule = alert_actions.rule_create(
        service=None,
        currency="EUR",
        kind="available_for_payout_below",
        threshold="50",
        actor=admin,
    )
    assert not Alert.objects.exists()
    held, go = threading.Event(), threading.Event()
    real = evaluate._amount_rules_with_open_alert

    def paused(*args, **kwargs):
        if threading.current_thread().name == "payout":
            held.set()
            assert go.wait(WAIT)
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate, "_amount_rules_with_open_alert", paused)
    payout = Worker(
        lambda: payout_actions.payout_create(
            service=service, currency="EUR", amount="60.00", destination="x", actor=admin
        ),
        name="payout",
    )
    payout.start()
    assert held.wait(WAIT)
    return rule, payout, go


def test_changing_a_rule_while_a_payout_opens_its_alert(payout_paused_under_its_balance_lock):
    from alerts import actions as alert_actions
    from alerts.models import Alert, AlertRule

    rule, payout, go = payout_paused_under_its_balance_lock
    update = Worker(
        lambda: alert_actions.rule_update(
            rule=AlertRule.objects.get(pk=rule.pk), actor=Actor.system("admin"), emails=["a@b.co"]
        )
    )
    update.start()
    assert wait_until(waiting_on_lock), "the rule's change never waited for the balance"
    go.set()
    paid, updated = payout.outcome(), update.outcome()

    assert not isinstance(paid, Exception), paid
    assert isinstance(updated, AlertRule), updated
    assert AlertRule.objects.get(pk=rule.pk).emails == ["a@b.co"]
    alert = Alert.objects.get()
    assert alert.rule_id == rule.pk and alert.status == "open"


def test_deleting_a_rule_while_a_payout_opens_its_alert(payout_paused_under_its_balance_lock):
    from alerts import actions as alert_actions
    from alerts import evaluate
    from alerts.models import Alert, AlertRule

    rule, payout, go = payout_paused_under_its_balance_lock
    delete = Worker(
        lambda: alert_actions.rule_delete(
            rule=AlertRule.objects.get(pk=rule.pk), actor=Actor.system("admin")
        )
    )
    delete.start()
    assert wait_until(waiting_on_lock), "the rule's deletion never waited for the balance"
    go.set()
    paid, deleted = payout.outcome(), delete.outcome()

    assert not isinstance(paid, Exception), paid
    assert deleted is None
    assert not AlertRule.objects.exists()
    alert = Alert.objects.get()  # opened by the payout, resolved with its rule
    assert alert.rule_id is None and alert.status == "resolved"
    assert alert.resolved_reason == evaluate.RULE_GONE


# --- alerts and syncs: balances are locked by service, then currency -------------------------


@pytest.fixture
def two_balances():
    service = ServiceFactory(name="Race")
    # Made in this order, USD has the lower id: the opposite of the currencies' order.
    usd = BalanceFactory(service=service, currency="USD", available=Decimal("1"))
    eur = BalanceFactory(service=service, currency="EUR", available=Decimal("1"))
    assert usd.pk < eur.pk
    return service, usd, eur


def test_a_rule_moving_currency_locks_balances_in_a_syncs_order(two_balances):
    """A third transaction holds USD; the rule's two scopes queue for it first, then a sync
    of the service.  Locked by id, the scopes would get USD, then wait for EUR, which the
    sync (by currency) holds while it waits for USD."""
    from alerts.actions import _lock_scope
    from balances.models import Balance
    from balances.sync.apply import _lock_balances

    service, usd, _ = two_balances
    holding, release = threading.Event(), threading.Event()

    def hold_usd():
        with transaction.atomic():
            Balance.objects.select_for_update().get(pk=usd.pk)
            holding.set()
            assert release.wait(WAIT)

    def in_transaction(fn):
        def run():
            with transaction.atomic():
                fn()
            return "ok"

        return run

    holder = Worker(hold_usd)
    holder.start()
    assert holding.wait(WAIT)
    scopes = Worker(in_transaction(lambda: _lock_scope(("USD", service.pk), ("EUR", service.pk))))
    scopes.start()
    assert wait_until(waiting_on_lock)
    sync = Worker(in_transaction(lambda: _lock_balances(service.pk, None)))
    sync.start()
    assert wait_until(lambda: waiting_on_lock(2))
    release.set()

    assert holder.outcome() is None
    assert scopes.outcome() == "ok"
    assert sync.outcome() == "ok"


def test_syncs_and_rule_scopes_locking_at_once(two_balances):
    """A bounded stress of the same two orders: no deadlock."""
    from alerts.actions import _lock_scope
    from balances.sync.apply import _lock_balances

    service, _, _ = two_balances
    rounds = 300

    def loop(fn):
        errors = []
        for _ in range(rounds):
            try:
                with transaction.atomic():
                    fn()
            except Exception as exc:
                errors.append(str(exc).splitlines()[0])
        return errors

    sync = Worker(lambda: loop(lambda: _lock_balances(service.pk, None)))
    scopes = Worker(lambda: loop(lambda: _lock_scope(("USD", service.pk), ("EUR", service.pk))))
    sync.start()
    scopes.start()
    assert sync.outcome() == []
    assert scopes.outcome() == []


# --- webhooks: a webhook's row is locked before its deliveries ------------------------------


@pytest.fixture
def pending_delivery():
    from webhooks.models import Webhook, WebhookDelivery, WebhookEvent

    hook = Webhook.objects.create(
        url="https://example.com/h", events=["payout.status_changed"], secret_encrypted="x"
    )
    event = WebhookEvent.objects.create(type="payout.status_changed", body=b"{}")
    return hook, WebhookDelivery.objects.create(webhook=hook, event=event)


def _record(delivery, pause: Pause) -> Worker:
    from webhooks import actions as webhook_actions
    from webhooks import http

    answer = http.Answer(None, 0, error="timeout", retryable=True)
    return Worker(
        pause.run(
            lambda: webhook_actions._record(
                delivery_id=delivery.pk, answer=answer, started_at=delivery.created_at
            )
        )
    )


def _turn_off(hook) -> Worker:
    from webhooks import actions as webhook_actions

    return Worker(
        lambda: webhook_actions.webhook_update(
            webhook=hook, actor=Actor.system("ops"), active=False
        )
    )


def test_recording_an_attempt_while_the_webhook_is_turned_off(pending_delivery):
    """The attempt reaches the webhook's lock (it used to hold the delivery's by then); the
    webhook is turned off meanwhile: the attempt is recorded on the ended delivery."""
    from webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

    hook, delivery = pending_delivery
    pause = Pause(locking("webhooks_webhook"))
    record = _record(delivery, pause)
    record.start()
    assert pause.reached.wait(WAIT)
    turn_off = _turn_off(hook)
    turn_off.start()
    assert wait_until(lambda: done_or_waiting(turn_off))
    pause.go()
    recorded, turned_off = record.outcome(), turn_off.outcome()

    assert recorded.status == "failed", recorded
    assert isinstance(turned_off, Webhook) and not turned_off.active
    assert not Webhook.objects.get(pk=hook.pk).active
    delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.status == "failed" and delivery.attempts == 1
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 1


def test_recording_holds_the_webhook_then_turning_off_ends_the_delivery(pending_delivery):
    """The attempt holds the webhook's lock when it locks the delivery: turning the webhook
    off waits, then ends the delivery the attempt left pending (to retry)."""
    from webhooks.actions import TURNED_OFF
    from webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

    hook, delivery = pending_delivery
    pause = Pause(locking("webhooks_webhookdelivery"))
    record = _record(delivery, pause)
    record.start()
    assert pause.reached.wait(WAIT)
    turn_off = _turn_off(hook)
    turn_off.start()
    assert wait_until(lambda: done_or_waiting(turn_off))
    pause.go()
    recorded, turned_off = record.outcome(), turn_off.outcome()

    assert recorded.status in ("retrying", "failed"), recorded
    assert isinstance(turned_off, Webhook) and not Webhook.objects.get(pk=hook.pk).active
    delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.status == "failed" and delivery.attempts == 1
    if recorded.status == "retrying":
        assert delivery.last_error == TURNED_OFF
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 1


def test_recording_holds_the_webhook_then_the_webhook_is_deleted(pending_delivery):
    """Deleting the webhook deletes its deliveries first: it locks the webhook before them,
    so it waits for the attempt being recorded, then deletes everything."""
    from webhooks import actions as webhook_actions
    from webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

    hook, delivery = pending_delivery
    pause = Pause(locking("webhooks_webhookdelivery"))
    record = _record(delivery, pause)
    record.start()
    assert pause.reached.wait(WAIT)
    delete = Worker(lambda: webhook_actions.webhook_delete(webhook=hook, actor=Actor.system("ops")))
    delete.start()
    assert wait_until(lambda: done_or_waiting(delete))
    pause.go()
    recorded, deleted = record.outcome(), delete.outcome()

    assert deleted is None
    assert not isinstance(recorded, Exception) or isinstance(
        recorded, WebhookDelivery.DoesNotExist | Webhook.DoesNotExist
    ), recorded
    assert not Webhook.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert not WebhookAttempt.objects.exists()
