"""A payout's events after its real commit (the balance's hold, the payout's status): the
webhooks that want them get every one, from one reading of the active webhooks
(core.events.shared_reads around the write)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.actors import Actor
from payouts import actions
from tests.webhooks.receiver import Receiver, verify
from webhooks import actions as webhook_actions
from webhooks.models import WebhookDelivery, WebhookEvent

# Transactional: the after-commit subscribers run at the write's real commit.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver(settings):
    server = Receiver()
    settings.WEBHOOK_URL_ALLOWLIST = [*settings.WEBHOOK_URL_ALLOWLIST, server.host_port]
    yield server
    server.close()


@pytest.mark.parametrize("watched", [False, True], ids=["one-statement", "transactional"])
def test_each_event_of_a_payout_reaches_the_webhooks_from_one_reading(
    priced_service, funded, operator, receiver, watched
):
    webhook, secret = webhook_actions.webhook_create(
        url=receiver.url(),
        events=["balance.changed", "payout.status_changed"],
        actor=Actor.system("tests"),
    )
    if watched:  # a rule watches the balance: the transactional path
        funded.__class__.objects.filter(pk=funded.pk).update(watched=True)

    with CaptureQueriesContext(connection) as ctx:
        payout, created = actions.payout_create(
            service=priced_service,
            currency="EUR",
            amount="100.00",
            destination="acct",
            actor=Actor.for_user(operator),
        )

    assert created
    reads = [q["sql"] for q in ctx.captured_queries if 'FROM "webhooks_webhook" w' in q["sql"]]
    assert len(reads) == 1, reads
    events = {e.type: e for e in WebhookEvent.objects.all()}
    assert set(events) == {"balance.changed", "payout.status_changed"}
    assert WebhookDelivery.objects.filter(webhook=webhook).count() == 2
    # Delivered (tasks run in this process in the tests), signed, each its own event.
    assert len(receiver.requests) == 2
    bodies = [json.loads(r.body) for r in receiver.requests]
    for request in receiver.requests:
        verify(request, secret)
    assert {b["type"] for b in bodies} == set(events)
    [status] = [b for b in bodies if b["type"] == "payout.status_changed"]
    assert payout.public_id in json.dumps(status)
