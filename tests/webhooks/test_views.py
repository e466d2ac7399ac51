"""The Webhooks pages: admins only; the secret shown once; refusals on the form; the delivery
log with Redeliver; edit, roll the secret, delete."""

from __future__ import annotations

import pytest

from tests.provider_server import Reply
from webhooks.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_webhook, balance_event, receiver):
    webhook, _secret = make_webhook(description="ledger service")
    receiver.reply(Reply({"error": "<script>alert(1)</script>"}, status=500))
    balance_event()
    return webhook, WebhookDelivery.objects.get()


@pytest.mark.parametrize("role", ["anonymous", "nobody", "viewer", "operator"])
def test_only_admins_reach_the_pages(clients, world, role):
    webhook, delivery = world
    urls = [
        "/webhooks/",
        "/webhooks/add/",
        f"/webhooks/{webhook.public_id}/",
        f"/webhooks/{webhook.public_id}/edit/",
        f"/webhooks/{webhook.public_id}/delete/",
        f"/webhooks/{webhook.public_id}/roll-secret/",
    ]
    for url in urls:
        response = clients[role].get(url)
        assert response.status_code == (302 if role == "anonymous" else 403), url
    response = clients[role].post(
        f"/webhooks/{webhook.public_id}/deliveries/{delivery.public_id}/redeliver/"
    )
    assert response.status_code in (302, 403)
    assert WebhookDelivery.objects.count() == 1
    page = clients[role].get("/services/") if role != "anonymous" else None
    if page is not None and page.status_code == 200:
        assert b'href="/webhooks/"' not in page.content  # not in their navigation


def test_create_shows_the_secret_once(clients, receiver, balance_event):
    admin = clients["admin"]
    assert b'href="/webhooks/"' in admin.get("/webhooks/").content  # in the navigation
    response = admin.post(
        "/webhooks/add/",
        {"url": receiver.url(), "events": ["balance.changed"], "description": "", "active": "on"},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    webhook = Webhook.objects.get()
    content = response.content.decode()
    secret = content.split('id="webhook-secret">', 1)[1].split("<", 1)[0]
    assert secret.startswith("whsec_")
    for url in (
        "/webhooks/",
        f"/webhooks/{webhook.public_id}/",
        f"/webhooks/{webhook.public_id}/edit/",
    ):
        assert secret not in admin.get(url).content.decode()


def test_a_url_outside_the_allowlist_is_a_form_error(clients):
    response = clients["admin"].post(
        "/webhooks/add/", {"url": "http://127.0.0.1:5432/", "events": ["sync.failed"]}
    )
    assert response.status_code == 400
    content = response.content.decode()
    assert 'id="id_url_error"' in content and "loopback, private or reserved" in content
    response = clients["admin"].post("/webhooks/add/", {"url": "https://hooks.example.com/"})
    assert response.status_code == 400
    assert "Choose at least one event type." in response.content.decode()
    assert not Webhook.objects.exists()


def test_the_detail_page_shows_each_delivery_escaped(clients, world):
    webhook, delivery = world
    content = clients["admin"].get(f"/webhooks/{webhook.public_id}/").content.decode()
    assert delivery.public_id in content and "balance.changed" in content
    assert "HTTP 500" in content and "Next attempt" in content and "Redeliver" in content
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "Attempt log (1)" in content and "Failed, will retry" in content


def test_the_detail_page_costs_the_same_queries_whatever_the_deliveries(
    clients, world, balance_event, django_assert_num_queries
):
    webhook, _ = world
    for currency in ("USD", "GBP", "KWD"):
        balance_event(currency)
    admin = clients["admin"]
    admin.get("/webhooks/")  # the session's first use
    # 1 the session, 2 the user, 3 the user's permissions, own and groups', and its groups
    # (the top bar): one UNION, 4 the webhook, 5 the count of its deliveries, 6 the page of
    # deliveries with their events, 7 their attempts (the navigation's open alerts count
    # comes from the cache, counted by the first request)
    with django_assert_num_queries(7):
        response = admin.get(f"/webhooks/{webhook.public_id}/")
    assert response.content.decode().count('class="card delivery"') == 4


def test_redeliver_from_the_page(clients, world, receiver, committed):
    webhook, delivery = world
    receiver.reply(Reply({"ok": True}))
    with committed():
        response = clients["admin"].post(
            f"/webhooks/{webhook.public_id}/deliveries/{delivery.public_id}/redeliver/"
        )
    assert response.status_code == 302 and response["Location"] == f"/webhooks/{webhook.public_id}/"
    again = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert again.redelivery_of == delivery and again.status == "delivered"
    assert receiver.requests[0].body == receiver.requests[1].body
    assert clients["admin"].get(f"/webhooks/{webhook.public_id}/redeliver/").status_code == 404


def test_edit_re_enables_a_disabled_webhook(clients, world):
    webhook, _ = world
    Webhook.objects.filter(pk=webhook.pk).update(
        active=False, disabled_reason="every delivery attempt failed for 24 hours"
    )
    admin = clients["admin"]
    detail = admin.get(f"/webhooks/{webhook.public_id}/").content.decode()
    assert "Disabled: every delivery attempt failed for 24 hours" in detail
    assert "Redeliver" not in detail
    edit = admin.get(f"/webhooks/{webhook.public_id}/edit/").content.decode()
    assert "Disabled: every delivery attempt failed for 24 hours" in edit
    response = admin.post(
        f"/webhooks/{webhook.public_id}/edit/",
        {"url": webhook.url, "events": ["balance.changed", "sync.failed"], "active": "on"},
    )
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert webhook.active and not webhook.disabled_reason
    assert webhook.events == ["balance.changed", "sync.failed"]


def test_roll_secret_shows_the_new_one_once(clients, world):
    webhook, _ = world
    admin = clients["admin"]
    before = Webhook.objects.get().secret_encrypted
    assert admin.get(f"/webhooks/{webhook.public_id}/roll-secret/").status_code == 200
    assert Webhook.objects.get().secret_encrypted == before  # GET only explains
    response = admin.post(f"/webhooks/{webhook.public_id}/roll-secret/")
    assert response.status_code == 200
    assert 'id="webhook-secret">whsec_' in response.content.decode()
    assert Webhook.objects.get().secret_encrypted != before


def test_delete_asks_then_deletes(clients, world):
    webhook, _ = world
    admin = clients["admin"]
    confirm = admin.get(f"/webhooks/{webhook.public_id}/delete/").content.decode()
    assert "Confirm delete" in confirm and "1 in the log, 1 still pending" in confirm
    assert Webhook.objects.exists()
    response = admin.post(f"/webhooks/{webhook.public_id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/webhooks/"
    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()
    assert admin.get(f"/webhooks/{webhook.public_id}/").status_code == 404
