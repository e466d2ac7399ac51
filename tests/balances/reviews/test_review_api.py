"""GET and POST /api/v1/services/{serviceId}/balances/{currency}/review, over HTTP with the
JSON envelope: shapes, decisions, errors, permissions and the schema."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db.models import F

from balances.actions import balance_update
from balances.models import Balance, BalanceChange, BalanceReview
from core.actors import Actor
from tests.balances.reviews.conftest import api_url, usd
from tests.config.helpers import assert_error, body, send

D = Decimal


def test_get_the_waiting_review(held, connected, operator, viewer_api):
    response = viewer_api.get(api_url(connected))
    assert response.status_code == 200
    data = body(response)
    assert data == {
        "reviewId": held.public_id,
        "serviceId": connected.public_id,
        "currency": "USD",
        "status": "open",
        "manualValue": D("1100.00"),
        "providerValue": D("1250.50"),
        "providerPending": D("0.00"),
        "providerReserved": D("0.00"),
        "difference": D("150.50"),
        "openedAt": data["openedAt"],
        "lastSeenAt": data["lastSeenAt"],
        "manualSetBy": operator.username,
        "manualSetAt": data["manualSetAt"],
        "syncRunId": held.sync_run.public_id,
        "decidedBy": None,
        "decidedAt": None,
        "note": "",
    }
    # Exact numbers with the currency's digits, as the balances API writes them.
    assert b'"manualValue": 1100.00' in response.content
    assert b'"difference": 150.50' in response.content


def test_a_negative_difference_keeps_its_sign(hand_set, connected, sync, viewer_api):
    sync("1000.25")
    data = body(viewer_api.get(api_url(connected)))
    assert data["difference"] == D("-99.75")


@pytest.mark.parametrize("currency", ["NGN", "EUR", "usd-x"])
def test_no_review_waiting_is_a_404_envelope(held, connected, viewer_api, currency):
    assert_error(viewer_api.get(api_url(connected, currency)), 404, "not_found")


def test_an_unknown_service_is_a_404_envelope(held, viewer_api):
    assert_error(viewer_api.get("/api/v1/services/srv_nope/balances/USD/review"), 404)


def test_accept_provider_applies_the_recorded_figures(held, connected, operator, operator_api):
    response = send(
        operator_api,
        "post",
        api_url(connected),
        {"decision": "accept_provider", "note": "statement checked"},
    )
    assert response.status_code == 200, response.content
    data = body(response)
    assert (data["status"], data["decidedBy"], data["note"]) == (
        "accept_provider",
        operator.username,
        "statement checked",
    )
    assert data["decidedAt"] is not None
    balance = usd(connected)
    assert (balance.available, balance.version) == (D("1250.50"), 3)
    change = BalanceChange.objects.get(kind="reviewed")
    assert change.actor_label == operator.username and "statement checked" in change.reason
    assert_error(operator_api.get(api_url(connected)), 404, "not_found")
    history = body(operator_api.get(f"/api/v1/services/{connected.public_id}/balances/USD/history"))
    assert history["results"][0]["kind"] == "reviewed"


def test_keep_manual_keeps_the_value(held, connected, operator_api):
    response = send(operator_api, "post", api_url(connected), {"decision": "keep_manual"})
    assert response.status_code == 200
    assert body(response)["status"] == "keep_manual"
    assert usd(connected).available == D("1100.00") and usd(connected).version == 2
    assert BalanceChange.objects.filter(kind="reviewed").count() == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"decision": "accept"},
        {"decision": ""},
        {},
        {"decision": None},
        {"decision": ["accept_provider"]},
        {"decision": "accept_provider", "note": "x" * 501},
        {"decision": "keep_manual", "note": "a\x00b"},
        {"decision": "accept_provider\x00"},
    ],
)
def test_a_bad_decision_is_a_400_and_changes_nothing(held, connected, operator_api, payload):
    error = assert_error(send(operator_api, "post", api_url(connected), payload), 400)
    assert error["message"]
    held.refresh_from_db()
    assert held.status == "open" and usd(connected).available == D("1100.00")
    assert not BalanceChange.objects.filter(kind="reviewed").exists()


def test_malformed_json_and_wrong_content_type_are_refused(held, connected, operator_api):
    bad = operator_api.post(api_url(connected), "{", content_type="application/json")
    assert_error(bad, 400)
    form = operator_api.post(api_url(connected), "decision=keep_manual", content_type="text/plain")
    assert_error(form, 415)
    assert BalanceReview.objects.get().status == "open"


def test_no_review_waiting_is_a_404_for_a_decision(hand_set, connected, operator_api):
    response = send(operator_api, "post", api_url(connected), {"decision": "keep_manual"})
    assert_error(response, 404, "not_found")


def test_a_decision_after_the_balance_moved_is_a_409(held, connected, operator, operator_api):
    balance_update(
        service=connected,
        currency="USD",
        amount=D("1180.00"),
        expected_version=2,
        actor=Actor.for_user(operator),
        reason="corrected again",
    )
    response = send(operator_api, "post", api_url(connected), {"decision": "accept_provider"})
    error = assert_error(response, 409, "balance_moved")
    assert error["details"]["currentVersion"] == 3
    assert usd(connected).available == D("1180.00")


def test_a_decision_after_another_write_moved_the_version_is_a_409(held, connected, operator_api):
    Balance.objects.filter(pk=held.balance_id).update(version=F("version") + 1)
    response = send(operator_api, "post", api_url(connected), {"decision": "keep_manual"})
    assert_error(response, 409, "balance_moved")
    # The question is moot: nothing waits any more.
    assert_error(operator_api.get(api_url(connected)), 404)


@pytest.mark.parametrize(
    ("caller", "get_status", "post_status"),
    [
        ("anonymous_api", 401, 401),
        ("bad_key_api", 401, 401),
        ("viewer_api", 200, 403),
        ("read_only_api", 200, 403),
        ("operator_api", 200, 200),
        ("admin_api", 200, 200),
    ],
)
def test_permissions(request, held, connected, caller, get_status, post_status):
    client = request.getfixturevalue(caller)
    get = client.get(api_url(connected))
    assert get.status_code == get_status
    post = send(client, "post", api_url(connected), {"decision": "keep_manual"})
    if post_status == 200:
        assert post.status_code == 200
    else:
        assert_error(post, post_status)
        assert BalanceReview.objects.get().status == "open"


def test_the_api_reads_a_review_in_a_fixed_number_of_queries(
    held, connected, viewer_api, django_assert_num_queries
):
    viewer_api.get(api_url(connected))  # records the key's last use, once a minute at most
    # 1 the API key with its user; 2 the user's permissions; 3 the service;
    # 4 the review with its balance and sync run joined.
    with django_assert_num_queries(4):
        response = viewer_api.get(api_url(connected))
    assert response.status_code == 200


def test_the_schema_documents_both_operations(viewer_client):
    schema = json.loads(viewer_client.get("/api/v1/schema/").content)
    path = schema["paths"]["/api/v1/services/{serviceId}/balances/{currency}/review"]
    assert set(path) >= {"get", "post"}
    assert {"200", "404"} <= set(path["get"]["responses"])
    assert {"200", "400", "403", "404", "409"} <= set(path["post"]["responses"])
    request_ref = path["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    decision = schema["components"]["schemas"][request_ref.rsplit("/", 1)[1]]
    enum_ref = decision["properties"]["decision"]["allOf"][0]["$ref"]
    enum = schema["components"]["schemas"][enum_ref.rsplit("/", 1)[1]]
    assert enum["enum"] == ["accept_provider", "keep_manual"]
    out = schema["components"]["schemas"]["BalanceReview"]["properties"]
    for name in ("reviewId", "currency", "status", "manualValue", "providerValue", "difference"):
        assert name in out
    assert out["manualValue"]["type"] == "number"
