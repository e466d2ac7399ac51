"""The alerts API: rules (admins write), alerts (readers list, operators acknowledge), the
shapes, filters and hostile input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from alerts.models import Alert, AlertRule
from balances import actions as balance_actions
from core.actors import Actor
from tests.config.helpers import (
    ADMINS,
    CALLERS,
    OPERATORS,
    READERS,
    api_client_for,
    assert_error,
    body,
    check_matrix_response,
    send,
)
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = pytest.mark.django_db
D = Decimal
RULE_KEYS = {
    "ruleId",
    "serviceId",
    "currency",
    "kind",
    "threshold",
    "staleMinutes",
    "failures",
    "emails",
    "createdAt",
    "updatedAt",
}
ALERT_KEYS = {
    "alertId",
    "ruleId",
    "serviceId",
    "currency",
    "kind",
    "status",
    "threshold",
    "openedAt",
    "openedValue",
    "resolvedAt",
    "resolvedValue",
    "resolvedReason",
    "acknowledgedAt",
    "acknowledgedBy",
    "note",
}


@pytest.fixture
def world(watched, make_rule, operator_actor):
    rule = make_rule(service=watched, threshold="100.00", emails=["ops@example.com"])
    balance_actions.balance_update(
        service=watched,
        currency="USD",
        amount="75.50",
        expected_version=None,
        actor=operator_actor,
        reason="t",
    )
    alert = Alert.objects.get()
    return {"sid": watched.public_id, "rid": rule.public_id, "aid": alert.public_id}


def url(path: str, world) -> str:
    return "/api/v1" + path.format(**world)


ENDPOINTS = [
    ("get", "/alert-rules", None, READERS, 200),
    (
        "post",
        "/alert-rules",
        {"serviceId": None, "currency": "EUR", "kind": "available_below", "threshold": "10.00"},
        ADMINS,
        201,
    ),
    ("get", "/alert-rules/{rid}", None, READERS, 200),
    ("patch", "/alert-rules/{rid}", {"threshold": "50.00"}, ADMINS, 200),
    ("delete", "/alert-rules/{rid}", None, ADMINS, 204),
    ("get", "/alerts", None, READERS, 200),
    ("get", "/alerts/{aid}", None, READERS, 200),
    ("post", "/alerts/{aid}/acknowledge", {"note": "on it"}, OPERATORS, 200),
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
    check_matrix_response(
        response, caller, allowed=allowed, writes=method != "get", success=success
    )


def test_an_alert_has_the_documented_shape_with_exact_values(world, viewer_api):
    data = body(viewer_api.get(url("/alerts/{aid}", world)))
    assert set(data) == ALERT_KEYS
    assert data["alertId"] == world["aid"] and data["ruleId"] == world["rid"]
    assert (data["serviceId"], data["currency"], data["kind"], data["status"]) == (
        world["sid"],
        "USD",
        "available_below",
        "open",
    )
    assert data["openedValue"] == "75.50" and data["threshold"] == "100.00"
    assert data["resolvedAt"] is None and data["resolvedValue"] is None
    assert data["acknowledgedBy"] is None and data["note"] == ""


def test_a_rule_has_the_documented_shape(world, viewer_api):
    data = body(viewer_api.get(url("/alert-rules/{rid}", world)))
    assert set(data) == RULE_KEYS
    assert data == {
        **data,
        "ruleId": world["rid"],
        "serviceId": world["sid"],
        "currency": "USD",
        "kind": "available_below",
        "threshold": "100.00",
        "staleMinutes": None,
        "failures": None,
        "emails": ["ops@example.com"],
    }


def test_creating_an_all_services_rule_opens_alerts_at_once(world, admin_api):
    other = ServiceFactory()
    BalanceFactory(service=other, currency="JPY", available=D("100"))
    response = send(
        admin_api,
        "post",
        "/api/v1/alert-rules",
        {"serviceId": None, "currency": "jpy", "kind": "available_below", "threshold": "5000"},
    )
    assert response.status_code == 201, response.content
    data = body(response)
    assert (data["serviceId"], data["currency"], data["threshold"]) == (None, "JPY", "5000")
    assert response["Location"].endswith(f"/api/v1/alert-rules/{data['ruleId']}")
    opened = body(admin_api.get("/api/v1/alerts?currency=JPY"))["results"]
    assert [(a["serviceId"], a["openedValue"]) for a in opened] == [(other.public_id, "100")]


def test_stale_and_sync_failing_rules_take_their_own_fields(world, admin_api):
    stale = body(
        send(
            admin_api,
            "post",
            "/api/v1/alert-rules",
            {"serviceId": world["sid"], "currency": "USD", "kind": "stale", "staleMinutes": 45},
        )
    )
    failing = body(
        send(
            admin_api,
            "post",
            "/api/v1/alert-rules",
            {"currency": "USD", "kind": "sync_failing", "failures": 4},
        )
    )
    assert (stale["staleMinutes"], stale["threshold"], stale["failures"]) == (45, None, None)
    assert (failing["failures"], failing["serviceId"]) == (4, None)


def test_the_filters_of_the_alert_list(world, viewer_api, operator_actor):
    balance_actions.balance_update(
        service=Alert.objects.get().service,
        currency="USD",
        amount="500.00",
        expected_version=None,
        actor=operator_actor,
        reason="t",
    )

    def ids(query: str) -> list[str]:
        return [a["alertId"] for a in body(viewer_api.get(f"/api/v1/alerts?{query}"))["results"]]

    assert ids("status=resolved") == [world["aid"]]
    assert ids("status=open") == []
    assert ids(f"serviceId={world['sid']}") == [world["aid"]]
    assert ids("serviceId=srv_nobody") == []
    assert ids("currency=usd") == [world["aid"]]
    assert ids("currency=EUR") == []
    assert ids("kind=stale") == []
    resolved = body(viewer_api.get(url("/alerts/{aid}", world)))
    assert (resolved["resolvedValue"], resolved["status"]) == ("500.00", "resolved")
    assert_error(viewer_api.get("/api/v1/alerts?status=closed"), 400)


def test_acknowledging_through_the_api(world, operator_api, operator):
    response = send(
        operator_api, "post", url("/alerts/{aid}/acknowledge", world), {"note": "Calling PSP"}
    )
    data = body(response)
    assert response.status_code == 200
    assert (data["status"], data["note"], data["acknowledgedBy"]) == (
        "acknowledged",
        "Calling PSP",
        operator.username,
    )
    assert data["acknowledgedAt"] is not None
    again = send(operator_api, "post", url("/alerts/{aid}/acknowledge", world), {"note": "x"})
    assert_error(again, 409, "not_open")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"note": ""},
        {"note": "x" * 1001},
        {"note": 12},
    ],
)
def test_acknowledging_without_a_proper_note_is_refused(world, operator_api, payload):
    assert_error(send(operator_api, "post", url("/alerts/{aid}/acknowledge", world), payload), 400)
    assert Alert.objects.get().status == "open"


HOSTILE = [
    ('{"currency": "USD", "kind": "available_below", "threshold": "1e3"}', "threshold"),
    ('{"currency": "USD", "kind": "available_below", "threshold": 1e3}', "threshold"),
    (
        '{"currency": "USD", "kind": "available_below", "threshold": "9' + "9" * 70 + '"}',
        "threshold",
    ),
    ('{"currency": "USD", "kind": "available_below", "threshold": "\u0661\u0660"}', "threshold"),
    # NUL: refused by the JSON parser itself, before any field.
    ('{"currency": "USD", "kind": "available_below", "threshold": "1\\u0000"}', None),
    ('{"currency": "USD", "kind": "available_below", "threshold": "10.001"}', "threshold"),
    ('{"currency": "USD", "kind": "available_below", "threshold": true}', "threshold"),
    ('{"currency": "USD", "kind": "stale", "staleMinutes": "ten"}', "staleMinutes"),
    ('{"currency": "USD", "kind": "stale", "staleMinutes": 0}', "staleMinutes"),
    ('{"currency": "USD", "kind": "sync_failing", "failures": -1}', "failures"),
    ('{"currency": "USD", "kind": "available_below", "threshold": "1", "emails": ["x"]}', "emails"),
    ('{"currency": "NOPE", "kind": "available_below", "threshold": "1"}', "currency"),
    ('{"currency": "USD", "kind": "whatever"}', "kind"),
    (
        '{"serviceId": "srv_missing", "currency": "USD", "kind": "available_below", "threshold": "1"}',
        "serviceId",
    ),
]


@pytest.mark.parametrize(("raw", "field"), HOSTILE)
def test_hostile_rules_are_refused_and_nothing_changes(world, admin_api, raw, field):
    before = AlertRule.objects.count()
    error = assert_error(send(admin_api, "post", "/api/v1/alert-rules", raw), 400)
    assert field is None or field in error["details"], error
    assert AlertRule.objects.count() == before


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [("{not json", "application/json"), ("currency=USD", "application/x-www-form-urlencoded")],
)
def test_malformed_bodies_are_refused(world, admin_api, raw, content_type):
    response = admin_api.post("/api/v1/alert-rules", raw, content_type=content_type)
    assert response.status_code in (400, 415)
    assert_error(response, response.status_code)
    assert AlertRule.objects.count() == 1


def test_a_duplicate_rule_is_a_conflict(world, admin_api):
    duplicate = {
        "serviceId": world["sid"],
        "currency": "USD",
        "kind": "available_below",
        "threshold": "1.00",
    }
    assert_error(send(admin_api, "post", "/api/v1/alert-rules", duplicate), 409)


def test_patch_changes_only_what_is_sent_and_delete_keeps_the_alerts(world, admin_api):
    response = send(admin_api, "patch", url("/alert-rules/{rid}", world), {"threshold": "50.00"})
    data = body(response)
    assert (data["threshold"], data["emails"], data["kind"]) == (
        "50.00",
        ["ops@example.com"],
        "available_below",
    )
    alert = Alert.objects.get()
    assert (alert.status, alert.resolved_value) == ("resolved", "75.50")  # 75.50 >= 50.00

    assert admin_api.delete(url("/alert-rules/{rid}", world)).status_code == 204
    assert_error(admin_api.get(url("/alert-rules/{rid}", world)), 404, "not_found")
    kept = body(admin_api.get(url("/alerts/{aid}", world)))
    assert kept["ruleId"] is None and kept["status"] == "resolved"


def test_unknown_ids_are_404_in_the_envelope(world, admin_api):
    assert_error(admin_api.get("/api/v1/alerts/alt_nope"), 404, "not_found")
    assert_error(admin_api.get("/api/v1/alert-rules/arl_nope"), 404, "not_found")
    assert_error(send(admin_api, "post", "/api/v1/alerts/alt_nope/acknowledge", {"note": "x"}), 404)


def test_the_schema_documents_the_alerts_api(viewer_client):
    schema = viewer_client.get("/api/v1/schema/").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/alert-rules"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/alert-rules/{ruleId}"])
    assert "get" in paths["/api/v1/alerts"] and "get" in paths["/api/v1/alerts/{alertId}"]
    assert "post" in paths["/api/v1/alerts/{alertId}/acknowledge"]
    rule_in = schema["components"]["schemas"]["AlertRuleCreateInRequest"]["properties"]
    assert {
        "serviceId",
        "currency",
        "kind",
        "threshold",
        "staleMinutes",
        "failures",
        "emails",
    } <= set(rule_in)


def test_acting_as_a_user_records_who(world, admin):
    assert Actor.for_user(admin).label == admin.username
