"""Rule validation, acknowledging, and the mail an opened alert sends."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from alerts import actions
from alerts.models import Alert, AlertRule
from balances import actions as balance_actions
from core.errors import AlreadyExists, NotAllowed, ValidationFailed
from services.models import AuditEntry
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

D = Decimal


def drop(service, amount, actor):
    balance_actions.balance_update(
        service=service,
        currency="USD",
        amount=amount,
        expected_version=None,
        actor=actor,
        reason="t",
    )


# --- rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "available_below"}, "threshold"),  # required
        ({"kind": "available_below", "threshold": "10.001"}, "threshold"),  # too precise
        ({"kind": "available_below", "threshold": "1e3"}, "threshold"),  # exponent
        ({"kind": "available_below", "threshold": "\u0661\u0660"}, "threshold"),  # non-ASCII digits
        ({"kind": "available_below", "threshold": "9" * 40}, "threshold"),  # huge
        ({"kind": "available_below", "threshold": "1", "stale_minutes": 5}, "stale_minutes"),
        ({"kind": "stale"}, "stale_minutes"),
        ({"kind": "stale", "stale_minutes": 0}, "stale_minutes"),
        ({"kind": "stale", "stale_minutes": "10\x00"}, "stale_minutes"),
        ({"kind": "stale", "stale_minutes": 10, "threshold": "1"}, "threshold"),
        ({"kind": "sync_failing", "failures": 10**6}, "failures"),
        ({"kind": "nonsense"}, "kind"),
        ({"kind": "available_below", "threshold": "1", "emails": ["not-an-address"]}, "emails"),
        ({"kind": "available_below", "threshold": "1", "emails": "a@b.example"}, None),
        ({"kind": "available_below", "threshold": "1", "emails": [{"x": 1}]}, "emails"),
    ],
)
def test_invalid_rules_are_refused_naming_the_field(db, admin_actor, fields, field):
    if field is None:  # a string of addresses is accepted (the form's textarea)
        rule = actions.rule_create(service=None, currency="USD", actor=admin_actor, **fields)
        assert rule.emails == ["a@b.example"]
        return
    with pytest.raises(ValidationFailed) as caught:
        actions.rule_create(service=None, currency="USD", actor=admin_actor, **fields)
    assert caught.value.field == field
    assert not AlertRule.objects.exists()


def test_an_unknown_currency_is_refused(db, admin_actor):
    with pytest.raises(ValidationFailed) as caught:
        actions.rule_create(
            service=None,
            currency="XXX_NOPE",
            kind="available_below",
            threshold="1",
            actor=admin_actor,
        )
    assert caught.value.field == "currency"


def test_defaults_of_the_kinds(db, admin_actor):
    payout_rule = actions.rule_create(
        service=None, currency="USD", kind="available_for_payout_below", actor=admin_actor
    )
    failing = actions.rule_create(
        service=None, currency="USD", kind="sync_failing", actor=admin_actor
    )
    assert payout_rule.threshold == D(0)
    assert (failing.failures, failing.threshold, failing.stale_minutes) == (3, None, None)


def test_one_rule_per_kind_and_scope(db, make_rule):
    service = ServiceFactory()
    make_rule()
    make_rule(service=service)  # another scope: fine
    make_rule(kind="available_for_payout_below")  # another kind: fine
    with pytest.raises(AlreadyExists):
        make_rule(threshold="5.00")
    with pytest.raises(AlreadyExists):
        make_rule(service=service, threshold="5.00")
    assert AlertRule.objects.count() == 3


def test_rule_changes_are_audited(db, make_rule, admin_actor):
    rule = make_rule()
    actions.rule_update(rule=rule, actor=admin_actor, emails=["ops@example.com"])
    actions.rule_delete(rule=rule, actor=admin_actor)
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "alert_rule_created",
        "alert_rule_changed",
        "alert_rule_deleted",
    ]


# --- acknowledging --------------------------------------------------------------------------


def test_an_operator_acknowledges_an_open_alert_and_it_still_resolves(
    watched, make_rule, operator_actor
):
    make_rule(service=watched)
    drop(watched, "10.00", operator_actor)
    alert = Alert.objects.get()
    acknowledged = actions.alert_acknowledge(
        alert=alert, actor=operator_actor, note="Topping up from treasury"
    )
    assert acknowledged.status == "acknowledged"
    assert acknowledged.acknowledged_by == operator_actor.user
    assert acknowledged.note == "Topping up from treasury"

    drop(watched, "20.00", operator_actor)  # still below: still the same alert
    assert Alert.objects.count() == 1
    drop(watched, "200.00", operator_actor)
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.note == "Topping up from treasury"


def test_acknowledging_needs_a_note_and_an_open_alert(watched, make_rule, operator_actor):
    make_rule(service=watched)
    drop(watched, "10.00", operator_actor)
    alert = Alert.objects.get()
    with pytest.raises(ValidationFailed):
        actions.alert_acknowledge(alert=alert, actor=operator_actor, note="   ")
    with pytest.raises(ValidationFailed):
        actions.alert_acknowledge(alert=alert, actor=operator_actor, note="x" * 1001)
    actions.alert_acknowledge(alert=alert, actor=operator_actor, note="on it")
    with pytest.raises(NotAllowed):
        actions.alert_acknowledge(alert=alert, actor=operator_actor, note="again")
    drop(watched, "200.00", operator_actor)
    with pytest.raises(NotAllowed):
        actions.alert_acknowledge(alert=alert, actor=operator_actor, note="too late")


# --- mail -----------------------------------------------------------------------------------


def test_an_opened_alert_mails_the_rules_addresses_after_commit(
    watched, make_rule, operator_actor, django_capture_on_commit_callbacks
):
    make_rule(service=watched, emails=["ops@example.com", "cfo@example.com"])
    with django_capture_on_commit_callbacks(execute=True):
        drop(watched, "42.00", operator_actor)
    [message] = mail.outbox
    assert message.to == ["ops@example.com", "cfo@example.com"]
    assert "USD" in message.subject and "Watched Ltd" in message.subject
    alert = Alert.objects.get()
    assert alert.public_id in message.body and "42.00 USD" in message.body

    with django_capture_on_commit_callbacks(execute=True):
        drop(watched, "41.00", operator_actor)  # stays below: no second mail
    assert len(mail.outbox) == 1


def test_nothing_is_mailed_before_commit_nor_for_a_rule_without_addresses(
    watched, make_rule, operator_actor, django_capture_on_commit_callbacks
):
    make_rule(service=watched)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        drop(watched, "42.00", operator_actor)
    assert mail.outbox == []
    for callback in callbacks:
        callback()
    assert mail.outbox == []
