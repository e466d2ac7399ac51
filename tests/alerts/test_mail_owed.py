"""An alert's mail is owed from the moment it opens and sent exactly once: by the task
queued after the commit, or, when the queue was down or the mail server failed, by the
periodic check a minute later.  Two senders never both send it."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
from celery import current_app
from django.core import mail
from django.utils import timezone

from alerts import actions
from alerts.models import Alert
from alerts.tasks import check_alerts, notify_alert
from tests.alerts.test_actions import drop
from tests.balances.sync.test_sync_queue_down import closed_port_url
from tests.balances.sync.worker_harness import publishing_to

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailed_rule(watched, make_rule):
    return make_rule(service=watched, emails=["ops@example.com"])


def later(minutes: float):
    return timezone.now() + timedelta(minutes=minutes)


def test_an_alert_opened_while_the_queue_is_down_is_mailed_by_the_next_check(
    watched, mailed_rule, operator_actor, django_capture_on_commit_callbacks, caplog
):
    with (
        publishing_to(current_app, closed_port_url()),
        django_capture_on_commit_callbacks(execute=True),
    ):
        drop(watched, "42.00", operator_actor)  # the write itself succeeds
    alert = Alert.objects.get()
    assert mail.outbox == [] and alert.mail_due_at is not None  # owed, not lost

    assert check_alerts() == [0, 0, 0]  # within the queued task's head start: not yet
    assert actions.alerts_mail_owed(now=later(2)) == [alert.public_id]
    assert actions.alert_notify(alert_public_id=alert.public_id, now=later(2)) == 1
    [message] = mail.outbox
    assert alert.public_id in message.body
    assert Alert.objects.get().mail_due_at is None
    assert actions.alerts_mail_owed(now=later(10)) == []  # sent once


def test_the_periodic_check_sends_what_is_owed_once(
    watched, mailed_rule, operator_actor, monkeypatch
):
    drop(watched, "42.00", operator_actor)  # no on-commit run: the queued task never came
    alert = Alert.objects.get()
    monkeypatch.setattr(actions, "MAIL_GRACE", timedelta(0))
    assert check_alerts()[2] == 1
    assert check_alerts()[2] == 0
    assert len(mail.outbox) == 1
    # The queued task arriving late finds nothing owed.
    assert notify_alert(alert.public_id) == 0
    assert len(mail.outbox) == 1


def test_a_failing_mail_server_leaves_the_mail_owed_and_the_task_does_not_raise(
    watched, mailed_rule, operator_actor, monkeypatch, caplog
):
    drop(watched, "42.00", operator_actor)
    alert = Alert.objects.get()

    def refuse(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(actions.mail, "send_mail", refuse)
    assert notify_alert(alert.public_id) == 0
    assert "mail server unavailable" in caplog.text
    owed = Alert.objects.get().mail_due_at
    assert owed is not None and owed <= timezone.now()  # owed again at once, not leased

    monkeypatch.undo()
    assert actions.alert_notify(alert_public_id=alert.public_id, now=later(2)) == 1
    assert len(mail.outbox) == 1


def test_a_mail_being_sent_is_not_sent_again_until_its_lease_ends(
    watched, mailed_rule, operator_actor
):
    drop(watched, "42.00", operator_actor)
    alert = Alert.objects.get()
    now = timezone.now()
    # Another sender claimed it (a worker that died while sending).
    Alert.objects.filter(pk=alert.pk).update(mail_due_at=now + actions.MAIL_LEASE)
    assert actions.alert_notify(alert_public_id=alert.public_id, now=now) == 0
    assert actions.alerts_mail_owed(now=now + timedelta(minutes=2)) == []
    after_lease = now + actions.MAIL_LEASE + actions.MAIL_GRACE
    assert actions.alerts_mail_owed(now=after_lease) == [alert.public_id]
    assert actions.alert_notify(alert_public_id=alert.public_id, now=after_lease) == 1
    assert len(mail.outbox) == 1


def test_an_alert_that_resolved_before_its_mail_owes_nothing(watched, mailed_rule, operator_actor):
    drop(watched, "42.00", operator_actor)
    alert = Alert.objects.get()
    drop(watched, "500.00", operator_actor)  # back above the threshold: resolved
    assert Alert.objects.get().status == "resolved"
    assert actions.alert_notify(alert_public_id=alert.public_id, now=later(2)) == 0
    assert mail.outbox == [] and Alert.objects.get().mail_due_at is None


def test_a_rule_without_addresses_owes_no_mail(watched, make_rule, operator_actor):
    make_rule(service=watched)
    drop(watched, "42.00", operator_actor)
    assert Alert.objects.get().mail_due_at is None


def test_a_mail_the_server_refuses_for_good_is_settled_not_retried_for_ever(
    watched, mailed_rule, operator_actor, monkeypatch, caplog
):
    drop(watched, "42.00", operator_actor)
    alert = Alert.objects.get()

    def refuse_all(*args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({"ops@example.com": (550, b"No such user")})

    monkeypatch.setattr(actions.mail, "send_mail", refuse_all)
    assert actions.alert_notify(alert_public_id=alert.public_id) == 0
    assert "refused for good" in caplog.text
    assert Alert.objects.get().mail_due_at is None
    assert actions.alerts_mail_owed(now=later(10)) == []


def test_one_alert_whose_mail_breaks_does_not_hold_up_the_others(
    watched, make_rule, operator_actor, monkeypatch, caplog
):
    from tests.factories import BalanceFactory

    make_rule(service=watched, emails=["ops@example.com"])
    make_rule(service=watched, currency="EUR", emails=["eur@example.com"])
    BalanceFactory(service=watched, currency="EUR", available="150.00")
    drop(watched, "42.00", operator_actor)
    from balances import actions as balance_actions

    balance_actions.balance_update(
        service=watched, currency="EUR", amount="1.00", expected_version=None,
        actor=operator_actor, reason="t",
    )  # fmt: skip
    assert Alert.objects.count() == 2
    monkeypatch.setattr(actions, "MAIL_GRACE", timedelta(0))
    real = actions._mail_alert

    def break_usd(alert):
        if alert.currency == "USD":
            raise RuntimeError("template broke")
        return real(alert)

    monkeypatch.setattr(actions, "_mail_alert", break_usd)
    assert check_alerts()[2] == 1
    assert [m.to for m in mail.outbox] == [["eur@example.com"]]
    assert "mail not sent" in caplog.text
