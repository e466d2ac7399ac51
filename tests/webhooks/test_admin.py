"""Webhooks in the Django admin: readable by superusers, never written there, and their
signing secrets never shown (neither the secret nor its encrypted form)."""

from __future__ import annotations

import pytest

from tests.admin_helpers import admin_url, assert_read_only_in_admin
from webhooks.models import Webhook, WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db


def test_webhooks_and_deliveries_are_read_only_and_keep_their_secrets(root, make_webhook, settings):
    webhook, secret = make_webhook(events=["balance.changed"])
    stored = Webhook.objects.get(pk=webhook.pk)
    event = WebhookEvent.objects.create(type="balance.changed", body=b"{}")
    delivery = WebhookDelivery.objects.create(webhook=stored, event=event)

    for url in (admin_url(Webhook), admin_url(stored, "change"), admin_url(WebhookDelivery),
                admin_url(delivery, "change")):  # fmt: skip
        page = root.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert secret not in html and stored.secret_encrypted not in html, url

    assert_read_only_in_admin(root, stored, {"url": "https://evil.example/in", "active": "on"})
    assert_read_only_in_admin(root, delivery, {"status": "delivered"})
