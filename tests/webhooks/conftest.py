"""Webhook fixtures: a receiving server listed in WEBHOOK_URL_ALLOWLIST, webhooks made by
their action (with the secret a client would have copied), and a way to raise domain
events that commit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.actors import Actor
from tests.webhooks.receiver import Receiver
from webhooks import actions
from webhooks.models import WebhookDelivery


@pytest.fixture
def webhook_allow(settings):
    """``webhook_allow("127.0.0.1:5123")`` lists an entry in WEBHOOK_URL_ALLOWLIST."""

    def allow(entry: str) -> str:
        settings.WEBHOOK_URL_ALLOWLIST = [*settings.WEBHOOK_URL_ALLOWLIST, entry]
        return entry

    return allow


@pytest.fixture
def receiver(webhook_allow):
    server = Receiver()
    webhook_allow(server.host_port)
    yield server
    server.close()


@pytest.fixture
def make_webhook(db, receiver):
    """``make_webhook(events=[...], url=...)`` -> (webhook, secret)."""

    def make(*, events=("balance.changed",), url: str | None = None, **kwargs):
        return actions.webhook_create(
            url=url or receiver.url(),
            events=list(events),
            actor=Actor.system("tests"),
            **kwargs,
        )

    return make


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed(): action(...)``: the on-commit subscribers (and the deliveries they
    queue) run as after a real commit."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


@pytest.fixture
def balance_event(service, committed):
    """Create a balance (a ``balance.changed`` event) and let it commit."""
    from balances.actions.balance import balance_create

    def make(currency: str = "EUR", amount: str = "10.50"):
        with committed():
            return balance_create(
                service=service,
                currency=currency,
                amount=Decimal(amount),
                actor=Actor.system("tests"),
            )

    return make


def make_due(delivery: WebhookDelivery) -> None:
    """Bring a scheduled retry forward to now (instead of waiting for it)."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
