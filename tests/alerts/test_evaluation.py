"""Alerts open once when a rule's condition becomes true at the write that causes it, stay
open while it holds, and resolve (with the time and the value) when it no longer does."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from alerts import evaluate
from alerts.events import AlertOpened, AlertResolved
from alerts.models import Alert
from balances import actions as balance_actions
from balances.models import Balance
from core import events
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = pytest.mark.django_db

D = Decimal


def set_usd(service, amount: str, actor) -> None:
    balance_actions.balance_update(
        service=service,
        currency="USD",
        amount=amount,
        expected_version=None,
        actor=actor,
        reason="test",
    )


def alerts_of(service) -> list[Alert]:
    return list(Alert.objects.filter(service=service).order_by("opened_at", "id"))


@pytest.fixture
def heard():
    """The AlertOpened / AlertResolved events published, in order."""
    seen: list[object] = []
    events.subscribe(AlertOpened, seen.append)
    events.subscribe(AlertResolved, seen.append)
    yield seen
    events.unsubscribe(AlertOpened, seen.append)
    events.unsubscribe(AlertResolved, seen.append)


def test_crossing_opens_one_staying_below_opens_none_recovering_resolves_crossing_again_opens_new(
    watched, make_rule, operator_actor, heard
):
    rule = make_rule(service=watched, threshold="100.00")
    assert alerts_of(watched) == []

    set_usd(watched, "90.00", operator_actor)  # crosses
    [alert] = alerts_of(watched)
    assert (alert.status, alert.opened_value, alert.threshold) == ("open", "90.00", "100.00")
    assert (alert.rule, alert.kind, alert.currency) == (rule, "available_below", "USD")
    assert alert.public_id.startswith("alt_")

    set_usd(watched, "80.00", operator_actor)  # stays below
    set_usd(watched, "99.99", operator_actor)
    assert [a.pk for a in alerts_of(watched)] == [alert.pk]

    set_usd(watched, "100.00", operator_actor)  # recovers: not below any more
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_value) == ("resolved", "100.00")
    assert alert.resolved_at is not None and alert.resolved_reason == evaluate.RECOVERED

    set_usd(watched, "150.00", operator_actor)  # stays above
    set_usd(watched, "5.50", operator_actor)  # crosses again: a new alert
    first, second = alerts_of(watched)
    assert first.pk == alert.pk and first.status == "resolved"
    assert (second.status, second.opened_value) == ("open", "5.50")

    assert [type(e).__name__ for e in heard] == ["AlertOpened", "AlertResolved", "AlertOpened"]
    assert heard[0].value == "90.00" and heard[1].value == "100.00"
    assert heard[0].service_public_id == watched.public_id


def test_a_write_above_the_threshold_opens_nothing(watched, make_rule, operator_actor):
    make_rule(service=watched, threshold="100.00")
    set_usd(watched, "100.00", operator_actor)
    set_usd(watched, "1000.00", operator_actor)
    assert alerts_of(watched) == []


def test_a_rolled_back_write_opens_no_alert(watched, make_rule, operator_actor):
    make_rule(service=watched)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        set_usd(watched, "1.00", operator_actor)
        assert len(alerts_of(watched)) == 1  # opened inside the write's transaction
        raise Abort
    assert alerts_of(watched) == []


def test_values_are_exact_with_the_currency_digits(db, make_rule, operator_actor):
    service = ServiceFactory()
    BalanceFactory(service=service, currency="JPY", available=D("10000"))
    BalanceFactory(service=service, currency="USDT_TRC20", available=D("5"))
    make_rule(service=service, currency="JPY", threshold="5000")
    make_rule(service=service, currency="USDT_TRC20", threshold="1.00000001")
    for currency, amount in (("JPY", "4999"), ("USDT_TRC20", "1.00000000")):
        balance_actions.balance_update(
            service=service,
            currency=currency,
            amount=amount,
            expected_version=None,
            actor=operator_actor,
            reason="t",
        )
    values = dict(Alert.objects.values_list("currency", "opened_value"))
    assert values == {"JPY": "4999", "USDT_TRC20": "1.00000000"}
    thresholds = dict(Alert.objects.values_list("currency", "threshold"))
    assert thresholds == {"JPY": "5000", "USDT_TRC20": "1.00000001"}


# --- scope: a service's own rule overrides the all-services rule --------------------------


def test_an_all_services_rule_watches_every_service_and_a_service_rule_overrides_it(
    db, make_rule, operator_actor
):
    a, b = ServiceFactory(name="A"), ServiceFactory(name="B")
    for service in (a, b):
        BalanceFactory(service=service, currency="USD", available=D("500.00"))
    everywhere = make_rule(threshold="100.00")
    own = make_rule(service=a, threshold="10.00")

    set_usd(a, "50.00", operator_actor)  # below 100 but not below a's own 10
    set_usd(b, "50.00", operator_actor)  # b follows the all-services rule
    assert alerts_of(a) == []
    [alert] = alerts_of(b)
    assert alert.rule == everywhere

    set_usd(a, "9.00", operator_actor)
    [alert] = alerts_of(a)
    assert alert.rule == own and alert.threshold == "10.00"


def test_creating_a_rule_opens_alerts_for_balances_already_below(db, make_rule):
    low, high = ServiceFactory(), ServiceFactory()
    BalanceFactory(service=low, currency="USD", available=D("20.00"))
    BalanceFactory(service=high, currency="USD", available=D("2000.00"))
    BalanceFactory(service=low, currency="EUR", available=D("1.00"))  # another currency
    make_rule(threshold="100.00")
    [alert] = Alert.objects.all()
    assert (alert.service, alert.currency, alert.opened_value) == (low, "USD", "20.00")


def test_a_service_rule_replaces_the_all_services_alert_and_deleting_it_hands_back(
    db, make_rule, admin_actor
):
    from alerts import actions

    service = ServiceFactory()
    BalanceFactory(service=service, currency="USD", available=D("50.00"))
    everywhere = make_rule(threshold="100.00")
    [first] = alerts_of(service)
    assert first.rule == everywhere

    own = make_rule(service=service, threshold="10.00")  # 50 is fine by this one
    first.refresh_from_db()
    assert (first.status, first.resolved_reason) == ("resolved", evaluate.RULE_REPLACED)
    assert Alert.objects.filter(status__in=Alert.UNRESOLVED).count() == 0

    actions.rule_delete(rule=own, actor=admin_actor)
    opened = Alert.objects.get(status="open")
    assert opened.rule == everywhere and opened.pk != first.pk


def test_changing_a_threshold_resolves_or_opens_at_once(watched, make_rule, admin_actor):
    from alerts import actions

    rule = make_rule(service=watched, threshold="100.00")  # 150: fine
    actions.rule_update(rule=rule, actor=admin_actor, threshold="200.00")
    [alert] = alerts_of(watched)
    assert (alert.status, alert.opened_value, alert.threshold) == ("open", "150.00", "200.00")
    actions.rule_update(rule=rule, actor=admin_actor, threshold="150.00")
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_value) == ("resolved", "150.00")


def test_changing_the_kind_resolves_the_old_alerts(watched, make_rule, admin_actor):
    from alerts import actions

    rule = make_rule(service=watched, threshold="200.00")
    [alert] = alerts_of(watched)
    actions.rule_update(rule=rule, actor=admin_actor, kind="available_for_payout_below")
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_reason) == ("resolved", evaluate.RULE_CHANGED)
    rule.refresh_from_db()
    assert rule.threshold == D(0)  # the default of the new kind, not the old threshold


# --- the writes that cause it ---------------------------------------------------------------


def test_deleting_the_balance_resolves_its_alerts_without_a_value(
    watched, make_rule, operator_actor
):
    make_rule(service=watched, threshold="1000.00")
    [alert] = alerts_of(watched)
    balance_actions.balance_delete(service=watched, currency="USD", actor=operator_actor)
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_value) == ("resolved", "")
    assert alert.resolved_reason == evaluate.BALANCE_GONE


def test_creating_a_balance_below_the_threshold_opens_an_alert(db, make_rule, operator_actor):
    service = ServiceFactory()
    make_rule(threshold="100.00")
    balance_actions.balance_create(
        service=service, currency="USD", amount="10.00", actor=operator_actor
    )
    [alert] = alerts_of(service)
    assert alert.opened_value == "10.00"


def test_deleting_a_rule_resolves_its_alerts_and_keeps_them(watched, make_rule, admin_actor):
    from alerts import actions

    rule = make_rule(service=watched, threshold="1000.00")
    [alert] = alerts_of(watched)
    actions.rule_delete(rule=rule, actor=admin_actor)
    alert.refresh_from_db()
    assert (alert.status, alert.rule, alert.resolved_reason) == (
        "resolved",
        None,
        evaluate.RULE_GONE,
    )


def test_payouts_move_available_for_payout_across_the_threshold(db, make_rule, operator_actor):
    from payouts import actions as payout_actions

    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR", available=D("1000.00"))
    make_rule(
        service=service, currency="EUR", kind="available_for_payout_below", threshold="500.00"
    )
    payout, _ = payout_actions.payout_create(
        service=service, currency="EUR", amount="600.00", destination="x", actor=operator_actor
    )
    [alert] = alerts_of(service)  # 1000 - 600 held = 400 < 500
    assert (alert.kind, alert.opened_value) == ("available_for_payout_below", "400.00")

    payout_actions.payout_cancel(payout=payout, actor=operator_actor)  # the hold ends
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_value) == ("resolved", "1000.00")


def test_a_paid_payout_can_take_available_below_the_threshold(db, make_rule, operator_actor):
    from payouts import actions as payout_actions

    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR", available=D("1000.00"))
    make_rule(service=service, currency="EUR", threshold="500.00")
    payout, _ = payout_actions.payout_create(
        service=service, currency="EUR", amount="600.00", destination="x", actor=operator_actor
    )
    assert alerts_of(service) == []  # a hold leaves available alone
    payout_actions.payout_process(payout=payout, actor=operator_actor)
    payout_actions.payout_pay(payout=payout, actor=operator_actor)
    [alert] = alerts_of(service)
    assert alert.opened_value == "400.00"


def test_without_rules_a_balance_write_asks_once_then_no_more(
    watched, operator_actor, django_assert_num_queries
):
    # 1 SAVEPOINT; 2 the balance, SELECT ... FOR UPDATE; 3 UPDATE it; 4 close any open sync
    # review of it (a manual value answers it); 5 read it back; 6 INSERT the history entry;
    # 7 INSERT the audit entry; 8 the alert rules that may apply (none); 9 mark the balance
    # as watched by nothing (Balance.watched); 10 RELEASE SAVEPOINT.
    with django_assert_num_queries(10) as captured:
        set_usd(watched, "10.00", operator_actor)
    assert captured.captured_queries[8]["sql"].startswith('UPDATE "balances_balance"')
    assert Balance.objects.get(service=watched, currency="USD").watched is False
    # The next writes read the mark with the locked row and skip the rules: 8 statements.
    with django_assert_num_queries(8) as captured:
        set_usd(watched, "20.00", operator_actor)
    assert not [q for q in captured.captured_queries if "alerts_alertrule" in q["sql"]]


def test_a_rule_created_after_the_balance_was_unwatched_is_heard_by_the_next_write(
    watched, make_rule, operator_actor
):
    set_usd(watched, "120.00", operator_actor)  # no rule: the balance is marked unwatched
    assert Balance.objects.get(service=watched, currency="USD").watched is False
    make_rule(service=None, threshold="100.00")  # every service's USD: marks it again
    assert Balance.objects.get(service=watched, currency="USD").watched is True
    assert alerts_of(watched) == []  # 120.00 is not below 100.00
    set_usd(watched, "90.00", operator_actor)
    [alert] = alerts_of(watched)
    assert (alert.kind, alert.opened_value) == ("available_below", "90.00")


def test_a_payout_on_an_unwatched_balance_hears_a_rule_created_since(db, make_rule, operator_actor):
    from payouts import actions as payout_actions

    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR", available=D("1000.00"))
    payout_actions.payout_create(
        service=service, currency="EUR", amount="100.00", destination="x", actor=operator_actor
    )
    assert Balance.objects.get(service=service, currency="EUR").watched is False
    make_rule(
        service=service, currency="EUR", kind="available_for_payout_below", threshold="500.00"
    )
    payout_actions.payout_create(
        service=service, currency="EUR", amount="500.00", destination="y", actor=operator_actor
    )
    [alert] = alerts_of(service)  # 1000 - 100 - 500 held = 400 < 500
    assert (alert.kind, alert.opened_value) == ("available_for_payout_below", "400.00")


def test_with_a_rule_and_no_change_of_state_a_write_still_costs_one_query(
    watched, make_rule, operator_actor, django_assert_num_queries
):
    make_rule(service=watched)
    set_usd(watched, "10.00", operator_actor)  # opens
    # 1 SAVEPOINT; 2 SELECT ... FOR UPDATE; 3 UPDATE; 4 close open sync reviews; 5 read
    # back; 6 INSERT history; 7 INSERT audit entry; 8 the rules with their unresolved alert on
    # this balance (one query); 9 RELEASE SAVEPOINT.
    with django_assert_num_queries(9):
        set_usd(watched, "20.00", operator_actor)
    assert len(alerts_of(watched)) == 1
