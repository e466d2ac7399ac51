"""The approvals API over HTTP: 202 instead of a change, deciding, self-approval through a
second key, policies, the list with its filters, the schema."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from approvals.models import ApprovalRequest
from balances.models import Balance
from payouts.models import Payout
from tests.config.helpers import assert_error, body, send
from tests.conftest import api_client_with_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BALANCE = "/api/v1/services/{}/balances/EUR"
REQUEST_KEYS = {
    "approvalId",
    "kind",
    "serviceId",
    "currency",
    "status",
    "requestedBy",
    "requestedAt",
    "reason",
    "currentValue",
    "proposedValue",
    "payoutId",
    "decidedBy",
    "decidedAt",
    "comment",
    "expiresAt",
}


def patch_eur(client, shop, amount: str, **headers):
    return send(
        client,
        "patch",
        BALANCE.format(shop.public_id),
        f'{{"amount": {amount}, "reason": "Statement"}}',
        **headers,
    )


def test_a_change_under_the_limit_answers_200(eur_policy, shop, eur, operator_api):
    response = patch_eur(operator_api, shop, '"5500.00"')
    assert response.status_code == 200
    assert body(response)["amount"] == Decimal("5500.00")


def test_a_change_over_the_limit_answers_202_with_the_request(eur_policy, shop, eur, operator_api):
    response = patch_eur(operator_api, shop, "9000.50", HTTP_IF_MATCH='"1"')
    assert response.status_code == 202
    data = body(response)
    assert set(data) >= REQUEST_KEYS
    assert data["approvalId"].startswith("apr_")
    assert data["kind"] == "balance_update" and data["status"] == "pending"
    assert data["serviceId"] == shop.public_id and data["currency"] == "EUR"
    assert data["currentValue"] == Decimal("5000.00")
    assert data["proposedValue"] == Decimal("9000.50")
    assert b'"proposedValue": 9000.50' in response.content  # exact, with the currency's digits
    assert data["requestedBy"] == "otto" and data["payoutId"] is None
    assert data["decidedBy"] is None and data["decidedAt"] is None
    assert Balance.objects.get(pk=eur.pk).available == Decimal("5000.00")


def test_deleting_a_non_zero_balance_answers_202(eur_policy, shop, eur, operator_api):
    response = operator_api.delete(BALANCE.format(shop.public_id))
    assert response.status_code == 202
    assert body(response)["kind"] == "balance_delete"
    assert body(response)["proposedValue"] is None
    assert Balance.objects.filter(pk=eur.pk).exists()


def test_an_approver_approves_through_the_api(eur_policy, shop, eur, operator_api, approver_api):
    approval_id = body(patch_eur(operator_api, shop, '"9000.00"'))["approvalId"]
    response = send(
        approver_api, "post", f"/api/v1/approvals/{approval_id}/approve", {"comment": "OK"}
    )
    assert response.status_code == 200, response.content
    data = body(response)
    assert data["status"] == "approved" and data["decidedBy"] == "april"
    assert data["comment"] == "OK" and data["decidedAt"]
    assert Balance.objects.get(pk=eur.pk).available == Decimal("9000.00")
    # The history names both.
    history = body(operator_api.get(BALANCE.format(shop.public_id) + "/history"))
    latest = history["results"][0]
    assert latest["actorLabel"] == "otto"


def test_self_approval_through_a_second_key_is_refused(
    eur_policy, shop, eur, operator, operator_api, make_api_key
):
    operator.groups.add(*UserFactory(role="approver").groups.all())  # may approve, in general
    approval_id = body(patch_eur(operator_api, shop, '"9000.00"'))["approvalId"]
    second_key = api_client_with_key(make_api_key(operator, name="second"))
    response = send(second_key, "post", f"/api/v1/approvals/{approval_id}/approve", {})
    error = assert_error(response, 403, "self_approval")
    assert "someone else" in error["message"]
    assert Balance.objects.get(pk=eur.pk).available == Decimal("5000.00")


def test_a_superuser_cannot_approve_their_own_request_through_the_api(
    eur_policy, shop, eur, superuser, make_api_key
):
    api = api_client_with_key(make_api_key(superuser))
    approval_id = body(patch_eur(api, shop, '"9000.00"'))["approvalId"]
    assert_error(send(api, "post", f"/api/v1/approvals/{approval_id}/approve", {}), 403)


def test_approval_after_the_balance_moved_answers_409_with_what_it_is_now(
    eur_policy, shop, eur, operator_api, approver_api
):
    approval_id = body(patch_eur(operator_api, shop, '"9000.00"'))["approvalId"]
    assert patch_eur(operator_api, shop, '"5200.00"').status_code == 200
    response = send(approver_api, "post", f"/api/v1/approvals/{approval_id}/approve", {})
    error = assert_error(response, 409, "balance_moved")
    assert error["details"]["currentAmount"] == Decimal("5200.00")
    assert error["details"]["currentVersion"] == 2
    assert "5,200.00 EUR" in error["message"]
    # Only reject or renew remain.
    renewed = operator_api.post(f"/api/v1/approvals/{approval_id}/renew")
    assert renewed.status_code == 201
    assert body(renewed)["currentValue"] == Decimal("5200.00")
    assert body(operator_api.get(f"/api/v1/approvals/{approval_id}"))["status"] == "superseded"


def test_rejecting_through_the_api(eur_policy, shop, eur, operator_api, approver_api):
    approval_id = body(patch_eur(operator_api, shop, '"9000.00"'))["approvalId"]
    response = send(
        approver_api, "post", f"/api/v1/approvals/{approval_id}/reject", {"comment": "No"}
    )
    assert body(response)["status"] == "rejected"
    again = send(approver_api, "post", f"/api/v1/approvals/{approval_id}/approve", {})
    assert_error(again, 409, "not_pending")


@pytest.mark.parametrize("caller", ["operator", "viewer", "read_only"])
def test_only_approvers_decide(eur_policy, shop, eur, operator_api, caller, request):
    approval_id = body(patch_eur(operator_api, shop, '"9000.00"'))["approvalId"]
    client = request.getfixturevalue(f"{caller}_api")
    assert_error(send(client, "post", f"/api/v1/approvals/{approval_id}/approve", {}), 403)
    assert ApprovalRequest.objects.get(public_id=approval_id).status == "pending"


@pytest.mark.parametrize(
    "payload",
    [
        '{"comment": "' + "x" * 1001 + '"}',
        '{"comment": "a\\u0000b"}',
        "[1, 2",
        '{"comment": ["x"]}',
    ],
)
def test_a_bad_decision_body_is_refused_and_changes_nothing(
    eur_policy, shop, eur, operator_api, approver_api, payload
):
    approval_id = body(patch_eur(operator_api, shop, '"9000.00"'))["approvalId"]
    response = send(approver_api, "post", f"/api/v1/approvals/{approval_id}/approve", payload)
    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)
    assert ApprovalRequest.objects.get(public_id=approval_id).status == "pending"


def test_an_unknown_request_is_404(approver_api):
    assert_error(approver_api.get("/api/v1/approvals/apr_nothere"), 404, "not_found")
    assert_error(send(approver_api, "post", "/api/v1/approvals/apr_nothere/approve", {}), 404)


# --- payouts --------------------------------------------------------------------------


def test_a_payout_over_the_limit_answers_202_and_holds_its_funds(
    eur_policy, shop, eur, operator_api, approver_api
):
    url = f"/api/v1/services/{shop.public_id}/payouts"
    payload = {"currency": "EUR", "amount": "600.00", "destination": "acct 1"}
    response = send(operator_api, "post", url, payload, HTTP_IDEMPOTENCY_KEY="key-1")
    assert response.status_code == 202
    data = body(response)
    assert data["kind"] == "payout" and data["proposedValue"] == Decimal("600.00")
    payout = Payout.objects.get(public_id=data["payoutId"])
    assert payout.status == "awaiting_approval"
    assert response["Location"].endswith(f"/api/v1/payouts/{payout.public_id}")
    assert Balance.objects.get(pk=eur.pk).held == Decimal("600.00")
    # The same key and body: the same payout, the same answer.
    again = send(operator_api, "post", url, payload, HTTP_IDEMPOTENCY_KEY="key-1")
    assert again.status_code == 202 and body(again)["approvalId"] == data["approvalId"]
    assert Payout.objects.count() == 1
    # Its own actions are refused while it waits.
    process = send(operator_api, "post", f"/api/v1/payouts/{payout.public_id}/process", {})
    assert_error(process, 409, "awaiting_approval")
    # Rejected: canceled, hold released.
    send(approver_api, "post", f"/api/v1/approvals/{data['approvalId']}/reject", {})
    assert Payout.objects.get(pk=payout.pk).status == "canceled"
    assert Balance.objects.get(pk=eur.pk).held == Decimal("0")
    shown = body(operator_api.get(f"/api/v1/payouts/{payout.public_id}"))
    assert [e["toStatus"] for e in shown["events"]] == ["awaiting_approval", "canceled"]


# --- the list ---------------------------------------------------------------------------


def test_the_list_filters_by_status_and_costs_the_same_for_more_rows(
    eur_policy, shop, eur, operator_api, approver_api, viewer_api, django_assert_num_queries
):
    approval_id = body(patch_eur(operator_api, shop, '"9000.00"'))["approvalId"]
    send(approver_api, "post", f"/api/v1/approvals/{approval_id}/reject", {})
    body(patch_eur(operator_api, shop, '"9100.00"'))
    listed = body(viewer_api.get("/api/v1/approvals?status=pending"))
    assert [a["proposedValue"] for a in listed["results"]] == [Decimal("9100.00")]
    rejected = body(viewer_api.get("/api/v1/approvals?status=rejected"))
    assert [a["approvalId"] for a in rejected["results"]] == [approval_id]
    assert body(viewer_api.get("/api/v1/approvals"))["count"] == 2
    assert body(viewer_api.get("/api/v1/approvals?requestedBy=otto&currency=eur"))["count"] == 2
    assert body(viewer_api.get(f"/api/v1/approvals?serviceId={shop.public_id}"))["count"] == 2
    assert body(viewer_api.get("/api/v1/approvals?kind=payout"))["count"] == 0
    assert_error(viewer_api.get("/api/v1/approvals?status=maybe"), 400, "validation_error")

    # 1 the API key with its user; 2 the user's permissions; 3 the ETag's validator (one
    # aggregate); 4 the count; 5 the page of requests with their services.
    with django_assert_num_queries(5) as few:
        viewer_api.get("/api/v1/approvals")
    ApprovalRequest.objects.bulk_create(
        [
            ApprovalRequest(
                kind="payout",
                service=shop,
                currency="EUR",
                requested_by_label="x",
                payout_public_id=f"po_{n}",
                expires_at=ApprovalRequest.objects.first().expires_at,
            )
            for n in range(10)
        ]
    )
    with django_assert_num_queries(len(few.captured_queries)):
        response = viewer_api.get("/api/v1/approvals")
    assert body(response)["count"] == 12


# --- policies ---------------------------------------------------------------------------


def test_an_admin_reads_and_sets_a_policy(admin_api, settings):
    settings.APPROVAL_DEFAULTS = "USD:manual=100.00"
    data = body(admin_api.get("/api/v1/approval-policies/USD"))
    assert data == {
        "currency": "USD",
        "manualChangeAbove": "100.00",
        "payoutAbove": None,
        "nonZeroDeletion": False,
        "source": "default",
    }
    response = send(
        admin_api,
        "put",
        "/api/v1/approval-policies/usd",
        {"manualChangeAbove": "1000", "payoutAbove": "5000.5", "nonZeroDeletion": True},
    )
    assert response.status_code == 200
    assert body(response) == {
        "currency": "USD",
        "manualChangeAbove": "1000.00",
        "payoutAbove": "5000.50",
        "nonZeroDeletion": True,
        "source": "policy",
    }
    assert body(admin_api.get("/api/v1/approval-policies/JPY"))["source"] == "none"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"manualChangeAbove": "10.001"}, "manualChangeAbove"),
        ({"manualChangeAbove": "-5"}, "manualChangeAbove"),
        ({"payoutAbove": "1e3"}, "payoutAbove"),
        ({"payoutAbove": "9" * 80}, "payoutAbove"),
        ({"payoutAbove": True}, "payoutAbove"),
        ({"nonZeroDeletion": "perhaps"}, "nonZeroDeletion"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(admin_api, payload, field):
    response = send(admin_api, "put", "/api/v1/approval-policies/EUR", payload)
    error = assert_error(response, 400)
    assert field in error["details"], error
    assert body(admin_api.get("/api/v1/approval-policies/EUR"))["source"] == "none"


def test_a_nul_in_a_policy_is_refused_and_changes_nothing(admin_api):
    response = send(admin_api, "put", "/api/v1/approval-policies/EUR", {"payoutAbove": "1\u0000"})
    assert_error(response, 400)
    assert body(admin_api.get("/api/v1/approval-policies/EUR"))["source"] == "none"


def test_policies_are_for_admins(operator_api, viewer_api, anonymous_api, admin_api):
    assert_error(operator_api.get("/api/v1/approval-policies/EUR"), 403)
    assert_error(send(operator_api, "put", "/api/v1/approval-policies/EUR", {}), 403)
    assert_error(viewer_api.get("/api/v1/approval-policies/EUR"), 403)
    assert_error(anonymous_api.get("/api/v1/approval-policies/EUR"), 401)
    assert_error(admin_api.get("/api/v1/approval-policies/XXX"), 404)


def test_the_schema_describes_the_approvals_endpoints(viewer_client):
    schema = json.loads(viewer_client.get("/api/v1/schema/").content)
    paths = schema["paths"]
    assert {"get", "put"} <= set(paths["/api/v1/approval-policies/{currency}"])
    assert "get" in paths["/api/v1/approvals"]
    assert "get" in paths["/api/v1/approvals/{approvalId}"]
    for verb in ("approve", "reject", "renew"):
        assert "post" in paths[f"/api/v1/approvals/{{approvalId}}/{verb}"]
    update = paths["/api/v1/services/{serviceId}/balances/{currency}"]["patch"]
    assert "202" in update["responses"]
    assert "202" in paths["/api/v1/services/{serviceId}/payouts"]["post"]["responses"]
    request = schema["components"]["schemas"]["ApprovalRequest"]["properties"]
    assert set(request) >= REQUEST_KEYS
