"""The webhooks API: /api/v1/webhooks and its deliveries, for every kind of caller, with
the refusals a client can meet."""

from __future__ import annotations

import pytest

from tests.config.helpers import (
    ADMINS,
    CALLERS,
    api_client_for,
    assert_error,
    body,
    check_matrix_response,
    send,
)
from tests.provider_server import Reply
from tests.webhooks.receiver import verify
from webhooks.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db

W = "/api/v1/webhooks"
ADMIN_READERS = ("read_only", "admin")  # read_only is an admin's read-only key


@pytest.fixture
def world(make_webhook, balance_event):
    webhook, _ = make_webhook()
    balance_event()
    return webhook, WebhookDelivery.objects.get()


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path", "data", "allowed", "success"),
    [
        ("get", W, None, ADMIN_READERS, 200),
        ("post", W, "create", ADMINS, 201),
        ("get", W + "/{wid}", None, ADMIN_READERS, 200),
        ("patch", W + "/{wid}", {"description": "ledger"}, ADMINS, 200),
        ("delete", W + "/{wid}", None, ADMINS, 204),
        ("get", W + "/{wid}/deliveries", None, ADMIN_READERS, 200),
        ("post", W + "/{wid}/deliveries/{did}/redeliver", None, ADMINS, 202),
    ],
)
def test_only_admins_see_and_manage_webhooks(
    request, world, receiver, caller, method, path, data, allowed, success
):
    webhook, delivery = world
    if data == "create":
        data = {"url": receiver.url(), "events": ["balance.changed"]}
    client = api_client_for(request, caller)
    response = send(
        client, method, path.format(wid=webhook.public_id, did=delivery.public_id), data
    )
    check_matrix_response(
        response, caller, allowed=allowed, writes=method != "get", success=success
    )


def test_create_answers_the_secret_once(admin_api, receiver, balance_event):
    response = send(
        admin_api,
        "post",
        W,
        {"url": receiver.url(), "events": ["balance.changed", "payout.status_changed"]},
    )
    assert response.status_code == 201, response.content
    created = body(response)
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert created["webhookId"].startswith("wh_") and created["status"] == "active"
    assert created["events"] == ["balance.changed", "payout.status_changed"]
    assert response["Location"].endswith(f"/api/v1/webhooks/{created['webhookId']}")
    assert response["Cache-Control"] == "no-store"

    one = body(admin_api.get(f"{W}/{created['webhookId']}"))
    listed = body(admin_api.get(W))
    deliveries = body(admin_api.get(f"{W}/{created['webhookId']}/deliveries"))
    for answer in (one, listed, deliveries):
        assert "'secret':" not in str(answer) and secret not in str(answer)

    balance_event()  # the secret the client kept verifies what it receives
    verify(receiver.last, secret)


def test_a_url_outside_the_allowlist_is_a_400_naming_url(admin_api):
    response = send(
        admin_api, "post", W, {"url": "http://127.0.0.1:6379/", "events": ["sync.failed"]}
    )
    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["url"]
    assert "loopback, private or reserved" in error["message"]
    response = send(
        admin_api, "post", W, {"url": "https://hooks.example.com/", "events": ["sync.failed"]}
    )
    error = assert_error(response, 400, "validation_error")
    assert "not listed in WEBHOOK_URL_ALLOWLIST" in error["details"]["url"][0]
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"url": "URL", "events": []}, "events"),
        ({"url": "URL", "events": ["balance.created"]}, "events"),
        ({"url": "URL", "events": "balance.changed"}, "events"),
        ({"url": "URL"}, "events"),
        ({"events": ["sync.failed"]}, "url"),
        ({"url": ["URL"], "events": ["sync.failed"]}, "url"),
        ({"url": "URL" + "/x" * 1000, "events": ["sync.failed"]}, "url"),
        ({"url": "URL", "events": ["sync.failed"], "description": "x" * 201}, "description"),
        ({"url": "URL", "events": ["sync.failed"], "active": "maybe"}, "active"),
    ],
)
def test_malformed_input_is_a_400_naming_the_field(admin_api, receiver, data, field):
    data = {
        k: (v.replace("URL", receiver.url()) if isinstance(v, str) and k == "url" else v)
        for k, v in data.items()
    }
    error = assert_error(send(admin_api, "post", W, data), 400)
    assert field in error["details"], error
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        ('{"url": "x", "url": "y", "events": []}', "application/json", 400),
        ('{"url": ', "application/json", 400),
        ("url=x", "application/x-www-form-urlencoded", 415),
    ],
)
def test_hostile_bodies_change_nothing(admin_api, raw, content_type, status):
    response = admin_api.post(W, raw, content_type=content_type)
    assert_error(response, status)
    assert not Webhook.objects.exists()


def test_patch_changes_only_what_is_sent_and_re_enables(admin_api, world, receiver):
    webhook, _ = world
    Webhook.objects.filter(pk=webhook.pk).update(active=False, disabled_reason="failed for a day")
    url = f"{W}/{webhook.public_id}"
    assert body(admin_api.get(url))["status"] == "disabled"
    assert body(admin_api.get(url))["disabledReason"] == "failed for a day"

    answer = body(send(admin_api, "patch", url, {"active": True, "events": ["sync.failed"]}))
    assert answer["status"] == "active" and answer["disabledReason"] is None
    assert answer["events"] == ["sync.failed"] and answer["url"] == receiver.url()
    assert "secret" not in answer

    error = assert_error(send(admin_api, "patch", url, {"url": "http://10.0.0.1/"}), 400)
    assert "url" in error["details"]
    webhook.refresh_from_db()
    assert webhook.url == receiver.url()


def test_deliveries_show_each_attempt_and_redeliver_sends_again(
    admin_api, world, receiver, committed
):
    webhook, delivery = world
    url = f"{W}/{webhook.public_id}/deliveries"
    page = body(admin_api.get(url))
    assert page["count"] == 1
    (item,) = page["results"]
    assert item["deliveryId"] == delivery.public_id
    assert item["eventType"] == "balance.changed" and item["status"] == "delivered"
    assert item["lastStatusCode"] == 200 and item["attempts"] == 1
    assert item["attemptLog"][0]["statusCode"] == 200
    assert item["attemptLog"][0]["durationMs"] >= 0

    receiver.reply(Reply({"error": "busy"}, status=503))
    with committed():
        response = admin_api.post(f"{url}/{delivery.public_id}/redeliver")
    assert response.status_code == 202, response.content
    queued = body(response)
    assert queued["redeliveryOf"] == delivery.public_id and queued["eventId"] == item["eventId"]
    # Sent once the request committed; a 503 is retried later.
    again = body(admin_api.get(url))["results"][0]
    assert again["deliveryId"] == queued["deliveryId"]
    assert again["status"] == "pending" and again["lastStatusCode"] == 503
    assert again["nextAttemptAt"] is not None
    assert again["attemptLog"][0]["outcome"] == "retrying"
    assert len(receiver.requests) == 2

    pending = body(admin_api.get(url, {"status": "pending"}))
    assert [d["deliveryId"] for d in pending["results"]] == [again["deliveryId"]]
    assert_error(admin_api.get(url, {"status": "lost"}), 400)


def test_unknown_ids_are_404(admin_api, world):
    webhook, _delivery = world
    assert_error(admin_api.get(f"{W}/wh_nope"), 404, "not_found")
    assert_error(admin_api.post(f"{W}/{webhook.public_id}/deliveries/whd_nope/redeliver"), 404)


def test_redelivering_to_a_webhook_turned_off_is_a_409(admin_api, world):
    webhook, delivery = world
    send(admin_api, "patch", f"{W}/{webhook.public_id}", {"active": False})
    response = admin_api.post(f"{W}/{webhook.public_id}/deliveries/{delivery.public_id}/redeliver")
    assert_error(response, 409, "not_allowed")
    assert WebhookDelivery.objects.count() == 1


def test_delete_removes_the_webhook_and_its_log(admin_api, world):
    webhook, _ = world
    response = admin_api.delete(f"{W}/{webhook.public_id}")
    assert response.status_code == 204
    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()
    assert_error(admin_api.get(f"{W}/{webhook.public_id}"), 404)


def test_the_schema_documents_every_webhook_operation(admin_api):
    import json

    schema = json.loads(admin_api.get("/api/v1/schema/").content)
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths[W])
    assert {"get", "patch", "delete"} <= set(paths[W + "/{webhookId}"])
    assert "get" in paths[W + "/{webhookId}/deliveries"]
    assert "post" in paths[W + "/{webhookId}/deliveries/{deliveryId}/redeliver"]
    created = paths[W]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("/WebhookCreatedOut")
