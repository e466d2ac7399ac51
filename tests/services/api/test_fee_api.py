"""The fee profiles API: every endpoint for every caller, shapes (exact numbers), quotes,
rule replacement, versions, deletion refused while in use, and a service's feeProfileId."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.models import FeeProfile
from tests.config.helpers import (
    ADMINS,
    CALLERS,
    READERS,
    api_client_for,
    assert_error,
    body,
    check_matrix_response,
    send,
)
from tests.factories import BalanceFactory, FeeProfileFactory, FeeRuleFactory, ServiceFactory

pytestmark = pytest.mark.django_db
D = Decimal
EUR_RULE = {
    "operation": "payout",
    "currency": "EUR",
    "percentage": "1.5",
    "fixed_amount": "0.25",
    "minimum_fee": "0.50",
    "maximum_fee": "10.00",
    "minimum_payout_amount": "5.00",
}
API_RULE = {
    "operation": "payout",
    "currency": "EUR",
    "percentage": 1.5,
    "fixedAmount": "0.25",
    "minimumFee": "0.50",
    "maximumFee": "10.00",
    "minimumPayoutAmount": "5.00",
}
QUOTE = {"operation": "payout", "currency": "EUR", "amount": "100.00"}


@pytest.fixture
def profile():
    return FeeProfileFactory(name="Standard", description="Default pricing", rules=[EUR_RULE])


@pytest.fixture
def world(profile):
    return {"id": profile.pk, "rule": profile.rules.get().pk}


# --- every endpoint for every caller ------------------------------------------------------

P = "/api/v1/fee-profiles/{id}"
ENDPOINTS = [
    ("get", "/api/v1/fee-profiles", None, READERS, 200, False),
    ("post", "/api/v1/fee-profiles", {"name": "New", "rules": [API_RULE]}, ADMINS, 201, True),
    ("get", P, None, READERS, 200, False),
    ("patch", P, {"description": "changed"}, ADMINS, 200, True),
    ("delete", P, None, ADMINS, 204, True),
    ("post", P + "/quote", QUOTE, READERS, 200, False),  # a POST that writes nothing
    ("post", P + "/rules", {"operation": "refund", "percentage": "1"}, ADMINS, 201, True),
    ("patch", P + "/rules/{rule}", {"percentage": "2"}, ADMINS, 200, True),
    ("delete", P + "/rules/{rule}", None, ADMINS, 200, True),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path", "data", "allowed", "success", "writes"),
    ENDPOINTS,
    ids=[f"{m.upper()} {p}" for m, p, *_ in ENDPOINTS],
)
def test_endpoint_by_caller(request, world, caller, method, path, data, allowed, success, writes):
    client = api_client_for(request, caller)
    response = send(client, method, path.format(**world), data)
    check_matrix_response(response, caller, allowed=allowed, writes=writes, success=success)
    if writes and caller != "admin":
        profile = FeeProfile.objects.get(pk=world["id"])
        assert (profile.version, FeeProfile.objects.count()) == (1, 1)


# --- shapes -------------------------------------------------------------------------------


def test_a_profile_with_its_rules_as_exact_numbers(viewer_api, profile):
    service = ServiceFactory(fee_profile=profile)
    FeeRuleFactory(profile=profile, operation="payin", currency="", fixed_amount="0.1234")
    response = viewer_api.get(f"/api/v1/fee-profiles/{profile.pk}")
    data = body(response)
    assert response["ETag"] == '"2"'
    assert (data["id"], data["name"], data["description"], data["version"]) == (
        profile.pk,
        "Standard",
        "Default pricing",
        2,
    )
    assert data["serviceIds"] == [service.public_id]
    rules = {(r["operation"], r["currency"]): r for r in data["rules"]}
    eur = rules[("payout", "EUR")]
    assert (eur["percentage"], eur["fixedAmount"], eur["minimumFee"]) == (
        D("1.5"),
        D("0.25"),
        D("0.50"),
    )
    assert (eur["maximumFee"], eur["minimumPayoutAmount"]) == (D("10.00"), D("5.00"))
    assert b'"maximumFee": 10.00' in response.content
    anything = rules[("payin", None)]  # "any currency" is null
    assert (anything["fixedAmount"], anything["maximumFee"]) == (D("0.1234"), None)


def test_the_list_is_paginated(viewer_api, profile):
    FeeProfileFactory(name="Another")
    data = body(viewer_api.get("/api/v1/fee-profiles"))
    assert data["count"] == 2 and [p["name"] for p in data["results"]] == ["Another", "Standard"]


# --- writes -------------------------------------------------------------------------------


def test_create_with_rules(admin_api):
    any_rule = {"operation": "payout", "currency": None, "percentage": "2"}
    response = send(
        admin_api,
        "post",
        "/api/v1/fee-profiles",
        {"name": "Premium", "rules": [API_RULE, any_rule]},
    )
    assert response.status_code == 201
    data = body(response)
    assert response["Location"].endswith(f"/api/v1/fee-profiles/{data['id']}")
    assert sorted((r["currency"] or "") for r in data["rules"]) == ["", "EUR"]
    assert FeeProfile.objects.get(pk=data["id"]).rules.count() == 2


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({**API_RULE, "percentage": "1.23456"}, "percentage"),
        ({**API_RULE, "fixedAmount": "0.001"}, "fixedAmount"),
        ({**API_RULE, "operation": "wire"}, "operation"),
        ({**API_RULE, "minimumFee": "20", "maximumFee": "10"}, "maximumFee"),
    ],
)
def test_invalid_rules_are_400_and_name_the_field(admin_api, rule, field):
    response = send(admin_api, "post", "/api/v1/fee-profiles", {"name": "Bad", "rules": [rule]})
    error = assert_error(response, 400)
    assert field in error["details"], error
    assert not FeeProfile.objects.filter(name="Bad").exists()


def test_duplicate_names_are_409(admin_api, profile):
    assert_error(send(admin_api, "post", "/api/v1/fee-profiles", {"name": "standard"}), 409)


def test_patch_replaces_the_rules_and_checks_if_match(admin_api, profile):
    path = f"/api/v1/fee-profiles/{profile.pk}"
    new_rules = {"rules": [{"operation": "payin", "currency": "USD", "percentage": "2.9"}]}
    assert_error(
        send(admin_api, "patch", path, new_rules, HTTP_IF_MATCH='"7"'), 412, "stale_version"
    )
    response = send(admin_api, "patch", path, new_rules, HTTP_IF_MATCH='"1"')
    data = body(response)
    assert [(r["operation"], r["currency"]) for r in data["rules"]] == [("payin", "USD")]
    assert data["version"] == 2 and response["ETag"] == '"2"'


def test_deleting_a_profile_in_use_is_409_and_names_the_services(admin_api, profile):
    service = ServiceFactory(name="Alpha Shop", fee_profile=profile)
    error = assert_error(
        send(admin_api, "delete", f"/api/v1/fee-profiles/{profile.pk}"), 409, "in_use"
    )
    assert "Alpha Shop" in error["message"] and error["details"]["services"] == [service.public_id]
    service.fee_profile = None
    service.save()
    assert send(admin_api, "delete", f"/api/v1/fee-profiles/{profile.pk}").status_code == 204
    assert_error(admin_api.get(f"/api/v1/fee-profiles/{profile.pk}"), 404)


def test_rule_endpoints(admin_api, world):
    base = f"/api/v1/fee-profiles/{world['id']}/rules"
    added = body(
        send(
            admin_api, "post", base, {"operation": "refund", "currency": "any", "fixedAmount": "1"}
        )
    )
    assert len(added["rules"]) == 2
    assert_error(send(admin_api, "post", base, API_RULE), 409, "already_exists")
    patched = body(send(admin_api, "patch", f"{base}/{world['rule']}", {"maximumFee": None}))
    eur = next(r for r in patched["rules"] if r["currency"] == "EUR")
    assert eur["maximumFee"] is None and eur["percentage"] == D("1.5")
    assert_error(send(admin_api, "patch", f"{base}/999999", {"percentage": "1"}), 404)
    left = body(send(admin_api, "delete", f"{base}/{world['rule']}"))
    assert [r["operation"] for r in left["rules"]] == ["refund"]


# --- quotes -------------------------------------------------------------------------------


def test_a_quote_gives_the_fee(viewer_api, profile):
    response = send(viewer_api, "post", f"/api/v1/fee-profiles/{profile.pk}/quote", QUOTE)
    data = body(response)
    assert (data["fee"], data["total"], data["amount"]) == (D("1.75"), D("101.75"), D("100.00"))
    assert b'"fee": 1.75' in response.content
    assert data["minimumPayoutAmount"] == D("5.00") and data["source"] == "rule for EUR"
    assert data["profileId"] == profile.pk and data["ruleId"] == profile.rules.get().pk


def test_a_quote_without_a_rule_uses_the_platform_defaults(viewer_api, profile):
    quote = {"operation": "payout", "currency": "NGN", "amount": 6000}
    data = body(send(viewer_api, "post", f"/api/v1/fee-profiles/{profile.pk}/quote", quote))
    assert (data["fee"], data["minimumPayoutAmount"], data["ruleId"]) == (
        D("0.00"),
        D("5000.00"),
        None,
    )


@pytest.mark.parametrize(
    ("quote", "field"),
    [
        ({**QUOTE, "amount": "100.001"}, "amount"),
        ({**QUOTE, "operation": "wire"}, "operation"),
        ({**QUOTE, "currency": "XXQ"}, "currency"),
        ({"operation": "payout", "currency": "EUR"}, "amount"),
    ],
)
def test_bad_quotes_are_400(viewer_api, profile, quote, field):
    error = assert_error(
        send(viewer_api, "post", f"/api/v1/fee-profiles/{profile.pk}/quote", quote), 400
    )
    assert field in error["details"]


def test_quoting_an_unknown_profile_is_404(viewer_api):
    assert_error(send(viewer_api, "post", "/api/v1/fee-profiles/999999/quote", QUOTE), 404)


# --- a service's fee profile --------------------------------------------------------------


def test_a_services_fee_profile_is_settable_and_prices_its_payouts(
    admin_api, operator_api, profile
):
    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR", available=D("500.00"))
    response = send(
        admin_api, "patch", f"/api/v1/services/{service.public_id}", {"feeProfileId": profile.pk}
    )
    assert body(response)["feeProfileId"] == profile.pk
    payout = {"currency": "EUR", "amount": "100.00", "destination": "x"}
    created = body(
        send(operator_api, "post", f"/api/v1/services/{service.public_id}/payouts", payout)
    )
    assert created["fee"] == D("1.75")


def test_rules_may_use_the_models_field_names(admin_api):
    rule = {"operation": "payout", "currency": "EUR", "percentage": "1.5", "fixed_amount": "0.25"}
    response = send(admin_api, "post", "/api/v1/fee-profiles", {"name": "Snake", "rules": [rule]})
    assert body(response)["rules"][0]["fixedAmount"] == D("0.25")
