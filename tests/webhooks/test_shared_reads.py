"""The active webhooks are read once for all the events of one write
(core.events.shared_reads); a webhook deleted or turned off in between must neither get a
delivery nor cost the others theirs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import events
from core.actors import Actor
from webhooks import actions
from webhooks.models import Webhook, WebhookDelivery, WebhookEvent

# Transactional: each event's deliveries commit for real (their foreign keys checked).
pytestmark = pytest.mark.django_db(transaction=True)


def publish() -> WebhookEvent | None:
    return actions.webhook_event_publish(
        event_type="balance.changed", data=lambda: {"n": 1}, at=datetime.now(UTC)
    )


@pytest.mark.parametrize("how", ["deleted", "turned off"])
def test_a_webhook_gone_between_two_events_of_one_write_costs_no_one_a_delivery(make_webhook, how):
    gone, _ = make_webhook()
    kept, _ = make_webhook()
    with events.shared_reads():
        assert publish() is not None
        if how == "deleted":
            actions.webhook_delete(webhook=gone, actor=Actor.system("tests"))
        else:
            actions.webhook_update(webhook=gone, actor=Actor.system("tests"), active=False)
        second = publish()

    assert second is not None
    assert WebhookDelivery.objects.filter(webhook=kept).count() == 2
    assert not WebhookDelivery.objects.filter(event=second, webhook_id=gone.pk).exists()
    if how == "deleted":
        assert not Webhook.objects.filter(pk=gone.pk).exists()


def test_no_event_is_recorded_when_every_wanting_webhook_is_gone(make_webhook):
    only, _ = make_webhook()
    with events.shared_reads():
        publish()
        actions.webhook_delete(webhook=only, actor=Actor.system("tests"))
        assert publish() is None
    assert WebhookEvent.objects.count() == 0  # the first one went with its webhook
