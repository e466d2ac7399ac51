"""The payouts API: every endpoint for every caller, the create contract (201, idempotency,
422 codes), lists, detail and transitions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances.models import BalanceChange
from payouts import actions
from payouts.models import Payout
from tests.config.helpers import (
    CALLERS,
    OPERATORS,
    READERS,
    api_client_for,
    assert_error,
    body,
    check_matrix_response,
    send,
)

pytestmark = pytest.mark.django_db
D = Decimal
CREATE = {"currency": "EUR", "amount": "100.00", "destination": "IBAN DE89 3704"}


@pytest.fixture
def world(priced_service, funded, make_payout):
    payout = make_payout()
    return {"sid": priced_service.public_id, "pid": payout.public_id, "payout": payout}


def url(path: str, world) -> str:
    return "/api/v1" + path.format(**world)


# --- every endpoint for every caller ------------------------------------------------------

ENDPOINTS = [
    ("get", "/services/{sid}/payouts", None, READERS, 200),
    ("post", "/services/{sid}/payouts", CREATE, OPERATORS, 201),
    ("get", "/payouts/{pid}", None, READERS, 200),
    ("post", "/payouts/{pid}/process", None, OPERATORS, 200),
    ("post", "/payouts/{pid}/fail", {"reason": "x"}, OPERATORS, 200),
    ("post", "/payouts/{pid}/cancel", None, OPERATORS, 200),
    ("post", "/payouts/{pid}/pay", None, OPERATORS, 409),  # pending: not payable yet
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path", "data", "allowed", "success"),
    ENDPOINTS,
    ids=[f"{m.upper()} {p}" for m, p, *_ in ENDPOINTS],
)
def test_endpoint_by_caller(request, world, caller, method, path, data, allowed, success):
    client = api_client_for(request, caller)
    response = send(client, method, url(path, world), data)
    if success == 409 and caller in allowed:
        assert_error(response, 409, "invalid_transition")
        return
    check_matrix_response(
        response, caller, allowed=allowed, writes=method != "get", success=success
    )
    if caller not in allowed or (caller == "read_only" and method != "get"):
        world["payout"].refresh_from_db()
        assert world["payout"].status == "pending"
        assert Payout.objects.count() == 1


# --- create -------------------------------------------------------------------------------


def test_create_answers_201_with_the_payout(operator_api, world):
    response = send(operator_api, "post", url("/services/{sid}/payouts", world), CREATE)
    assert response.status_code == 201
    data = body(response)
    assert data["payoutId"].startswith("po_") and data["status"] == "pending"
    assert (data["currency"], data["amount"], data["fee"], data["total"]) == (
        "EUR",
        D("100.00"),
        D("1.75"),
        D("101.75"),
    )
    assert b'"amount": 100.00' in response.content and b'"fee": 1.75' in response.content
    assert data["serviceId"] == world["sid"] and data["destination"] == CREATE["destination"]
    assert data["allowedActions"] == ["process", "fail", "cancel"]
    assert data["createdBy"] == "otto" and data["events"][0]["toStatus"] == "pending"
    assert response["Location"].endswith(f"/api/v1/payouts/{data['payoutId']}")


def test_amounts_may_be_exact_json_numbers(operator_api, world):
    raw = '{"currency": "EUR", "amount": 100.00, "destination": "x"}'
    response = send(operator_api, "post", url("/services/{sid}/payouts", world), raw)
    assert response.status_code == 201 and body(response)["fee"] == D("1.75")


def test_same_key_same_body_returns_the_same_payout_with_200(operator_api, world):
    path = url("/services/{sid}/payouts", world)
    first = send(operator_api, "post", path, CREATE, HTTP_IDEMPOTENCY_KEY="order-1")
    again = send(
        operator_api, "post", path, {**CREATE, "amount": 100}, HTTP_IDEMPOTENCY_KEY="order-1"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert body(first)["payoutId"] == body(again)["payoutId"]
    assert body(again)["idempotencyKey"] == "order-1"
    assert Payout.objects.count() == 2  # the fixture's and this one


def test_same_key_different_body_is_409(operator_api, world):
    path = url("/services/{sid}/payouts", world)
    send(operator_api, "post", path, CREATE, HTTP_IDEMPOTENCY_KEY="order-1")
    response = send(
        operator_api, "post", path, {**CREATE, "amount": "100.01"}, HTTP_IDEMPOTENCY_KEY="order-1"
    )
    error = assert_error(response, 409, "idempotency_key_reused")
    assert error["details"]["payoutId"].startswith("po_")


@pytest.mark.parametrize("key", ["order\x00-1", "order\t1", "order\x7f"])
def test_an_idempotency_key_with_a_control_character_is_400(operator_api, world, key):
    """A NUL byte (which PostgreSQL cannot store in text) or another control character in
    the header: refused, naming the key; no payout is made."""
    before = Payout.objects.count()
    response = send(
        operator_api, "post", url("/services/{sid}/payouts", world), CREATE,
        HTTP_IDEMPOTENCY_KEY=key,
    )  # fmt: skip
    error = assert_error(response, 400, "validation_error")
    assert "idempotency key" in error["message"]
    assert Payout.objects.count() == before


def test_insufficient_funds_is_422_with_the_figures(operator_api, world):
    response = send(
        operator_api, "post", url("/services/{sid}/payouts", world), {**CREATE, "amount": "890.00"}
    )
    error = assert_error(response, 422, "insufficient_funds")
    # 1000.00 available, 101.75 held by the fixture's payout.
    assert "needs 900.00 EUR" in error["message"]
    assert "898.25 available for payout" in error["message"]
    assert error["details"]["availableForPayout"] == "898.25"


def test_below_minimum_is_422(operator_api, world):
    response = send(
        operator_api, "post", url("/services/{sid}/payouts", world), {**CREATE, "amount": "4.99"}
    )
    error = assert_error(response, 422, "below_minimum")
    assert "5.00 EUR" in error["message"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**CREATE, "amount": "100.001"}, "amount"),
        ('{"currency": "EUR", "amount": 100.001, "destination": "x"}', "amount"),
        ({**CREATE, "amount": "-1"}, "amount"),
        ({**CREATE, "amount": True}, "amount"),
        ({**CREATE, "currency": "XXQ"}, "currency"),
        ({"currency": "EUR", "amount": "1.00"}, "destination"),
        ({"amount": "1.00", "destination": "x"}, "currency"),
    ],
)
def test_invalid_input_is_400_and_names_the_field(operator_api, world, data, field):
    response = send(operator_api, "post", url("/services/{sid}/payouts", world), data)
    error = assert_error(response, 400)
    assert field in error["details"], error
    assert Payout.objects.count() == 1


def test_missing_service_or_balance_is_404(operator_api, world):
    assert_error(send(operator_api, "post", "/api/v1/services/srv_nope/payouts", CREATE), 404)
    response = send(
        operator_api, "post", url("/services/{sid}/payouts", world), {**CREATE, "currency": "USD"}
    )
    assert_error(response, 404, "balance_not_found")


def test_the_balance_api_shows_available_for_payout(viewer_api, world):
    data = body(viewer_api.get(url("/services/{sid}/balances/EUR", world)))
    assert data["availableForPayout"] == D("898.25")


# --- read ---------------------------------------------------------------------------------


def test_list_is_newest_first_filtered_and_paginated(viewer_api, world, make_payout):
    second, third = make_payout("20.00"), make_payout("30.00")
    actions.payout_cancel(payout=second, actor=actions_actor())
    path = url("/services/{sid}/payouts", world)
    data = body(viewer_api.get(path))
    assert data["count"] == 3
    assert [p["payoutId"] for p in data["results"]] == [
        third.public_id,
        second.public_id,
        world["pid"],
    ]
    canceled = body(viewer_api.get(path, {"status": "canceled"}))
    assert [p["payoutId"] for p in canceled["results"]] == [second.public_id]
    assert body(viewer_api.get(path, {"currency": "usd"}))["count"] == 0
    page = body(viewer_api.get(path, {"pageSize": 2, "page": 2}))
    assert [p["payoutId"] for p in page["results"]] == [world["pid"]]
    assert_error(viewer_api.get(path, {"status": "lost"}), 400)


def actions_actor():
    from core.actors import Actor

    return Actor.system("tests")


def test_detail_has_the_timeline_and_unknown_ids_are_404(viewer_api, world):
    actions.payout_process(payout=world["payout"], actor=actions_actor())
    response = viewer_api.get(url("/payouts/{pid}", world))
    data = body(response)
    assert response["ETag"] == '"2"'
    assert [(e["fromStatus"], e["toStatus"]) for e in data["events"]] == [
        (None, "pending"),
        ("pending", "processing"),
    ]
    assert_error(viewer_api.get("/api/v1/payouts/po_nope"), 404)


# --- transitions --------------------------------------------------------------------------


def test_process_then_pay_debits_the_balance(operator_api, world, funded):
    assert (
        body(send(operator_api, "post", url("/payouts/{pid}/process", world)))["status"]
        == "processing"
    )
    paid = body(send(operator_api, "post", url("/payouts/{pid}/pay", world)))
    assert paid["status"] == "paid" and paid["endedAt"] and paid["allowedActions"] == []
    funded.refresh_from_db()
    assert funded.available == D("898.25")
    change = BalanceChange.objects.get(kind="payout")
    assert change.payout_public_id == world["pid"]


@pytest.mark.parametrize("verb", ["process", "pay", "fail", "cancel"])
def test_transitions_an_ended_payout_cannot_take_are_409(operator_api, world, verb):
    actions.payout_cancel(payout=world["payout"], actor=actions_actor())
    error = assert_error(send(operator_api, "post", url("/payouts/{pid}/" + verb, world)), 409)
    assert error["code"] == "invalid_transition"
    assert error["details"]["status"] == "canceled"


def test_fail_keeps_the_reason(operator_api, world):
    data = body(send(operator_api, "post", url("/payouts/{pid}/fail", world), {"reason": "Closed"}))
    assert data["status"] == "failed" and data["failureReason"] == "Closed"


def test_a_stale_if_match_is_412(operator_api, world):
    actions.payout_process(payout=world["payout"], actor=actions_actor())
    response = send(operator_api, "post", url("/payouts/{pid}/cancel", world), HTTP_IF_MATCH='"1"')
    assert_error(response, 412, "stale_version")
    response = send(operator_api, "post", url("/payouts/{pid}/cancel", world), HTTP_IF_MATCH='"2"')
    assert response.status_code == 200


def test_unknown_verbs_are_404(operator_api, world):
    assert_error(send(operator_api, "post", url("/payouts/{pid}/refund", world)), 404)
