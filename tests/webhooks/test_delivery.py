"""Deliveries against a real receiving server: signed as Stripe documents, verified the way a
client verifies; retries on timeouts, 5xx and 429; disabling after a day of failures."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core import events
from core.actors import Actor
from tests.provider_server import Reply
from tests.webhooks.conftest import make_due
from tests.webhooks.receiver import verify
from webhooks import actions, tasks
from webhooks.models import Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db


def only_delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.select_related("event", "webhook").get()


def test_a_balance_change_is_posted_signed_and_the_client_verifies_it(
    receiver, make_webhook, balance_event
):
    _webhook, secret = make_webhook()
    balance_event("EUR", "10.50")

    request = receiver.last
    assert request.method == "POST" and request.path == "/hooks"
    assert request.header("Content-Type") == "application/json"
    verify(request, secret)  # HMAC over "<t>.<raw body>", constant-time compare, tolerance
    document = json.loads(request.body)
    assert set(document) == {"id", "type", "createdAt", "data"}
    assert document["type"] == "balance.changed"
    assert document["id"].startswith("evt_")
    assert document["createdAt"].endswith("Z")
    assert request.header("Backoffice-Event-Id") == document["id"]
    data = document["data"]
    assert data["currency"] == "EUR" and data["before"] is None and data["kind"] == "created"
    # Exact strings with the currency's digits, never JSON numbers.
    assert data["after"]["available"] == "10.50"
    assert data["after"]["availableForPayout"] == "10.50"

    delivery = only_delivery()
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert delivery.last_status_code == 200 and delivery.next_attempt_at is None
    assert bytes(delivery.event.body) == request.body


def test_a_tampered_body_or_another_secret_fails_verification(
    receiver, make_webhook, balance_event
):
    _webhook, secret = make_webhook()
    balance_event()
    request = receiver.last
    with pytest.raises(AssertionError):
        verify(request, "whsec_" + "x" * 43)
    request.body = request.body.replace(b"10.50", b"99.50")
    with pytest.raises(AssertionError):
        verify(request, secret)


def test_amounts_keep_each_currency_s_digits(receiver, make_webhook, balance_event):
    make_webhook()
    balance_event("JPY", "5000")
    balance_event("USDT_TRC20", "12.5")
    jpy, usdt = (json.loads(r.body)["data"]["after"]["available"] for r in receiver.requests)
    assert (jpy, usdt) == ("5000", "12.50000000")


def test_only_webhooks_that_want_the_type_and_are_active_get_it(
    receiver, make_webhook, balance_event
):
    make_webhook(events=["payout.status_changed"])
    make_webhook(events=["balance.changed"], active=False)
    balance_event()
    assert receiver.requests == []
    assert not WebhookEvent.objects.exists()  # nothing recorded when nobody wants it


def test_payout_and_failed_sync_events_carry_their_figures(receiver, make_webhook, committed):
    make_webhook(events=["payout.status_changed", "sync.failed"])
    at = timezone.now()
    with committed():
        events.publish(
            events.PayoutStatusChanged(
                service_id=1,
                service_public_id="srv_1",
                payout_public_id="po_1",
                currency="KWD",
                amount=Decimal("1.5"),
                fee=Decimal("0.125"),
                from_status="pending",
                to_status="processing",
                at=at,
            )
        )
        for status in ("succeeded", "failed"):
            events.publish(
                events.SyncFinished(
                    service_id=1,
                    service_public_id="srv_1",
                    run_public_id=f"run_{status}",
                    provider_kind="syncpay",
                    status=status,
                    error_category="auth" if status == "failed" else "",
                    error_message="Invalid API key" if status == "failed" else "",
                    at=at,
                )
            )
    payout, sync = (json.loads(r.body) for r in receiver.requests)  # no sync.succeeded
    assert payout["type"] == "payout.status_changed"
    assert payout["data"] == {
        "serviceId": "srv_1",
        "payoutId": "po_1",
        "currency": "KWD",
        "amount": "1.500",
        "fee": "0.125",
        "total": "1.625",
        "fromStatus": "pending",
        "toStatus": "processing",
    }
    assert sync["type"] == "sync.failed"
    assert sync["data"]["syncRunId"] == "run_failed" and sync["data"]["errorCategory"] == "auth"


def test_nothing_is_sent_for_a_write_that_rolls_back(receiver, make_webhook, service):
    from django.db import transaction

    from balances.actions.balance import balance_create

    make_webhook()
    with pytest.raises(RuntimeError), transaction.atomic():
        balance_create(service=service, currency="EUR", amount=Decimal(1), actor=Actor.system())
        raise RuntimeError("rolled back")
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_500_is_retried_with_backoff_then_delivered(receiver, make_webhook, balance_event):
    webhook, secret = make_webhook()
    receiver.reply(Reply({"error": "down"}, status=500), Reply({"ok": True}))
    before = timezone.now()
    balance_event()

    delivery = only_delivery()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status_code == 500 and '"error": "down"' in delivery.last_response
    # First retry after 30 s with jitter: between half and all of the base delay.
    assert (
        before + timedelta(seconds=14)
        < delivery.next_attempt_at
        < timezone.now() + timedelta(seconds=31)
    )
    webhook.refresh_from_db()
    assert webhook.failing_since is not None and webhook.active

    assert tasks.retry_due() == 0  # not due yet
    make_due(delivery)
    assert tasks.retry_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 2
    first, second = receiver.requests
    assert first.body == second.body  # the same bytes, signed again
    verify(second, secret)
    assert [a.outcome for a in WebhookAttempt.objects.order_by("number")] == [
        "retrying",
        "delivered",
    ]
    webhook.refresh_from_db()
    assert webhook.failing_since is None  # a success restarts the failure clock


def test_backoff_grows_exponentially_up_to_the_cap(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.WEBHOOK_RETRY_MAX_SECONDS = 100
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (40, 100)]:
        delays = [actions.backoff_seconds(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, delays)
        assert len(set(delays)) > 1  # jitter
    assert actions.backoff_seconds(1, retry_after=600) == 600


def test_429_waits_for_retry_after(receiver, make_webhook, balance_event):
    make_webhook()
    receiver.reply(Reply("slow down", status=429, headers={"Retry-After": "900"}))
    balance_event()
    delivery = only_delivery()
    assert delivery.status == "pending" and delivery.last_status_code == 429
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 890 < wait <= 900


def test_a_4xx_fails_at_once_without_retry(receiver, make_webhook, balance_event):
    make_webhook()
    receiver.reply(Reply({"error": "unknown endpoint"}, status=404))
    balance_event()
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    assert delivery.last_error == "HTTP 404"


def test_a_redirect_is_not_followed(receiver, make_webhook, balance_event):
    make_webhook()
    receiver.reply(Reply("", status=302, headers={"Location": "http://169.254.169.254/"}))
    balance_event()
    assert len(receiver.requests) == 1
    delivery = only_delivery()
    assert delivery.status == "failed" and "Redirects are not followed" in delivery.last_error


def test_a_receiver_that_hangs_times_out_quickly_and_is_retried(
    settings, receiver, make_webhook, balance_event
):
    import time

    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    make_webhook()
    receiver.reply(Reply({"ok": True}, delay=3))
    started = time.monotonic()
    balance_event()
    assert time.monotonic() - started < 2  # the request that caused the event is not held
    delivery = only_delivery()
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert delivery.last_error == "No answer within 0.3 s."


def test_a_receiver_dripping_its_headers_is_cut_off_and_retried(
    settings, webhook_allow, make_webhook, balance_event
):
    """Each byte of the answer's head arrives well within the read timeout: only the whole
    call's limit (twice the timeout) ends it, and the delivery waits for its retry."""
    import time

    from tests.drip_server import DripServer

    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    drip = DripServer(every=0.05)
    webhook_allow(f"127.0.0.1:{drip.port}")
    make_webhook(url=f"{drip.url}/hooks")
    try:
        started = time.monotonic()
        balance_event()
        took = time.monotonic() - started
    finally:
        drip.close()
    assert took < 2, took
    delivery = only_delivery()
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert delivery.last_error == "No answer within 0.3 s."


def test_a_closed_port_reads_unreachable_and_is_retried(webhook_allow, make_webhook, balance_event):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    webhook_allow(f"127.0.0.1:{port}")
    make_webhook(url=f"http://127.0.0.1:{port}/hooks")
    balance_event()
    delivery = only_delivery()
    assert delivery.status == "pending"
    assert delivery.last_error == "The webhook URL could not be reached."


def test_a_webhook_failing_for_a_day_is_disabled_with_the_reason(
    receiver, make_webhook, balance_event, client, admin
):
    webhook, _ = make_webhook()
    receiver.reply(Reply({"error": "down"}, status=500))
    balance_event("EUR")
    balance_event("USD")  # a second delivery, also pending
    assert WebhookDelivery.objects.filter(status="pending").count() == 2
    # A day of failures, simulated: the failure clock started 25 hours ago.
    Webhook.objects.filter(pk=webhook.pk).update(failing_since=timezone.now() - timedelta(hours=25))
    first = WebhookDelivery.objects.order_by("id").first()
    make_due(first)
    tasks.retry_due()

    webhook.refresh_from_db()
    assert not webhook.active and webhook.disabled_at is not None
    assert "failed for 24 hours" in webhook.disabled_reason
    assert "HTTP 500" in webhook.disabled_reason
    # Nothing is left pending, and new events are not sent to it.
    assert not WebhookDelivery.objects.filter(status="pending").exists()
    sent = len(receiver.requests)
    balance_event("GBP")
    assert len(receiver.requests) == sent

    client.force_login(admin)
    page = client.get(f"/webhooks/{webhook.public_id}/").content.decode()
    assert "Disabled: every delivery attempt failed for 24 hours" in page

    # Editing it to active again re-enables it with a fresh clock.
    actions.webhook_update(webhook=webhook, active=True, actor=Actor.system())
    webhook.refresh_from_db()
    assert webhook.active and webhook.disabled_reason == "" and webhook.failing_since is None


def test_a_delivery_is_given_up_after_the_retry_window(receiver, make_webhook, balance_event):
    make_webhook()
    receiver.reply(Reply({"error": "down"}, status=503))
    balance_event()
    delivery = only_delivery()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    make_due(delivery)
    tasks.retry_due()
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 2


def test_the_task_delivered_twice_sends_once(receiver, make_webhook, balance_event):
    make_webhook()
    balance_event()
    delivery = only_delivery()
    assert tasks.deliver.apply(args=(delivery.pk,)).get() == "skipped"
    assert len(receiver.requests) == 1


def test_a_delivery_another_worker_holds_is_not_sent(receiver, make_webhook, balance_event):
    make_webhook()
    receiver.reply(Reply({}, status=500), Reply({}))
    balance_event()
    delivery = only_delivery()
    make_due(delivery)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        locked_until=timezone.now() + timedelta(minutes=1)
    )
    assert tasks.retry_due() == 0
    assert actions.delivery_attempt(delivery_id=delivery.pk).status == "skipped"
    # A worker that died: its lease expires and retry_due takes the delivery over.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.retry_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_a_failing_webhook_is_not_attempted_inside_the_request(
    receiver, make_webhook, balance_event
):
    make_webhook()
    receiver.reply(Reply({}, status=500))
    balance_event("EUR")
    assert len(receiver.requests) == 1
    balance_event("USD")  # failing: left to retry_due instead of holding this request
    assert len(receiver.requests) == 1
    assert tasks.retry_due() == 1
    assert len(receiver.requests) == 2


def test_redeliver_sends_the_same_event_as_a_new_delivery(
    receiver, make_webhook, balance_event, committed
):
    _webhook, secret = make_webhook()
    balance_event()
    original = only_delivery()
    with committed():
        queued = actions.delivery_redeliver(delivery=original, actor=Actor.system())
    again = WebhookDelivery.objects.get(pk=queued.pk)
    assert again.redelivery_of_id == original.pk and again.event_id == original.event_id
    assert again.status == "delivered"
    first, second = receiver.requests
    assert first.body == second.body
    assert second.header("Backoffice-Event-Id") == first.header("Backoffice-Event-Id")
    assert second.header("Backoffice-Delivery-Id") == again.public_id
    verify(second, secret)


def test_a_rolled_secret_signs_alongside_the_new_one_for_a_day(
    receiver, make_webhook, balance_event
):
    webhook, old = make_webhook()
    new = actions.webhook_roll_secret(webhook=webhook, actor=Actor.system())
    assert new != old and new.startswith("whsec_")
    balance_event()
    request = receiver.last
    verify(request, new)
    verify(request, old)
    assert request.header("Backoffice-Signature").count("v1=") == 2
    Webhook.objects.filter(pk=webhook.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    balance_event("USD")
    verify(receiver.last, new)
    with pytest.raises(AssertionError):
        verify(receiver.last, old)


def test_turning_a_webhook_off_ends_its_pending_deliveries(receiver, make_webhook, balance_event):
    webhook, _ = make_webhook()
    receiver.reply(Reply({}, status=500))
    balance_event()
    actions.webhook_update(webhook=webhook, active=False, actor=Actor.system())
    delivery = only_delivery()
    assert delivery.status == "failed" and "turned off" in delivery.last_error
    assert delivery.next_attempt_at is None
    assert tasks.retry_due() == 0


def test_the_secret_is_stored_encrypted(make_webhook):
    webhook, secret = make_webhook()
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 43
    stored = Webhook.objects.values_list("secret_encrypted", flat=True).get(pk=webhook.pk)
    assert secret not in stored
    assert actions.signing_secrets(webhook, now=timezone.now()) == [secret]


def test_alerts_opening_and_resolving_are_posted(receiver, make_webhook, service, committed):
    from alerts.actions import rule_create
    from balances.actions.balance import balance_create, balance_update

    make_webhook(events=["alert.opened", "alert.resolved"])
    with committed():
        balance_create(
            service=service, currency="EUR", amount=Decimal("50.00"), actor=Actor.system()
        )
    with committed():
        rule_create(
            service=None,
            currency="EUR",
            kind="available_below",
            threshold="100.00",
            actor=Actor.system(),
        )
    with committed():
        balance_update(
            service=service,
            currency="EUR",
            amount=Decimal("150.00"),
            expected_version=None,
            actor=Actor.system(),
            reason="top-up",
        )
    opened, resolved = (json.loads(r.body) for r in receiver.requests)
    assert opened["type"] == "alert.opened" and resolved["type"] == "alert.resolved"
    assert opened["data"]["alertId"] == resolved["data"]["alertId"]
    assert opened["data"]["serviceId"] == service.public_id
    assert (opened["data"]["threshold"], opened["data"]["value"]) == ("100.00", "50.00")
    assert resolved["data"]["value"] == "150.00" and resolved["data"]["reason"]
    assert "emails" not in opened["data"]


def test_a_failed_sync_and_a_payout_are_posted_end_to_end(
    receiver, make_webhook, service, committed, allow_listed, settings
):
    from balances.connections.actions import connection_save
    from balances.sync.request import sync_request
    from payouts.actions import payout_create
    from tests.factories import BalanceFactory
    from tests.provider_server import SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED, ProviderServer

    settings.SYNC_INLINE_RETRY_BUDGET_SECONDS = 0
    make_webhook(events=["sync.failed", "payout.status_changed"])
    with ProviderServer() as provider:
        allow_listed(provider.url)
        provider.reply(SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED)
        connection_save(
            service=service,
            kind="syncpay",
            actor=Actor.system(),
            base_url=provider.url,
            credentials={"apiKey": "sk_test_webhooks123"},
            options={},
        )
        with committed():
            run = sync_request(service=service, trigger="button")
    BalanceFactory(service=service, currency="EUR", available=Decimal("100.00"))
    with committed():
        payout, _ = payout_create(
            service=service,
            currency="EUR",
            amount=Decimal("25.00"),
            destination="IBAN DE89 3704",
            actor=Actor.system(),
        )
    sync, created = (json.loads(r.body) for r in receiver.requests)
    assert sync["type"] == "sync.failed"
    assert sync["data"]["syncRunId"] == run.public_id and sync["data"]["errorCategory"] == "auth"
    assert "sk_test_webhooks123" not in receiver.requests[0].body.decode()
    assert created["type"] == "payout.status_changed"
    assert created["data"]["payoutId"] == payout.public_id
    assert (created["data"]["fromStatus"], created["data"]["toStatus"]) == (None, "pending")
    assert created["data"]["amount"] == "25.00" and created["data"]["currency"] == "EUR"


def test_old_ended_deliveries_are_purged(receiver, make_webhook, balance_event, settings):
    settings.WEBHOOK_LOG_RETENTION_DAYS = 30
    make_webhook()
    receiver.reply(Reply({}), Reply({}, status=500))
    balance_event("EUR")  # delivered
    balance_event("USD")  # pending (retrying)
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(days=31))
    assert tasks.purge_old() == 1
    (left,) = WebhookDelivery.objects.all()
    assert left.status == "pending"
    assert WebhookEvent.objects.count() == 1 and WebhookAttempt.objects.count() == 1
    assert tasks.purge_old() == 0
