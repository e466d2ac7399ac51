"""ETag and 304 Not Modified on the API's GET lists (core/api/etag.py), for polling clients.

The balances list in depth (each kind of change makes the tag stale, the 304 costs fewer
queries than the 200, every form of If-None-Match); then every list endpoint: a 200 with an
ETag, a 304 with it, a 200 again after a change it shows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from balances import actions as balance_actions
from balances.models import Balance
from core.actors import Actor
from core.api.etag import none_match
from payouts import actions as payout_actions
from tests.conftest import api_client_with_key
from tests.factories import BalanceFactory, FeeProfileFactory, ServiceFactory

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def shop(db):
    profile = FeeProfileFactory(name="Flat", actor=Actor.system("tests"), rules=[])
    service = ServiceFactory(name="Etag Shop", country="DE", fee_profile=profile)
    BalanceFactory(service=service, currency="EUR", available=D("1000.00"))
    BalanceFactory(service=service, currency="USD", available=D("50.00"))
    return service


def balances_url(service) -> str:
    return f"/api/v1/services/{service.public_id}/balances"


def get(client, url: str, tag: str | None = None):
    headers = {"If-None-Match": tag} if tag is not None else {}
    return client.get(url, headers=headers)


def fresh_tag(client, url: str) -> str:
    response = get(client, url)
    assert response.status_code == 200, response.content
    tag = response["ETag"]
    assert tag.startswith('W/"') and tag.endswith('"')
    return tag


def assert_not_modified(client, url: str, tag: str) -> None:
    response = get(client, url, tag)
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == tag


def assert_stale(client, url: str, tag: str) -> str:
    response = get(client, url, tag)
    assert response.status_code == 200
    assert response.get("ETag") != tag  # none when the list became empty
    return response.get("ETag", "")


# --- the header's forms -----------------------------------------------------------------


def test_if_none_match_compares_weakly_lists_and_star():
    tag = 'W/"abc"'
    assert none_match('W/"abc"', tag)
    assert none_match('"abc"', tag)
    assert none_match('"x", W/"abc" , "y"', tag)
    assert none_match("*", tag)
    assert not none_match('"abcd"', tag)
    assert not none_match("", tag)
    assert not none_match(None, tag)
    assert not none_match('"x", "y"', tag)


def test_every_form_of_the_current_tag_answers_304(viewer_api, shop):
    url = balances_url(shop)
    tag = fresh_tag(viewer_api, url)
    opaque = tag[2:]
    for header in (tag, opaque, f'"nope", {tag}', f'{opaque},W/"x"', "*"):
        response = get(viewer_api, url, header)
        assert response.status_code == 304, header
        assert response.content == b""
    assert get(viewer_api, url, '"stale"').status_code == 200


def test_the_304_costs_fewer_queries_than_the_200(viewer_api, shop, django_assert_num_queries):
    url = balances_url(shop)
    tag = fresh_tag(viewer_api, url)
    # 1 the API key with its user; 2 their permissions; 3 the balances (the tag, and the
    # rows the answer shows); 4 the service.
    with django_assert_num_queries(4):
        assert get(viewer_api, url).status_code == 200
    # 1 the API key; 2 the permissions; 3 the list's figures: nothing else is read.
    with django_assert_num_queries(3):
        assert_not_modified(viewer_api, url, tag)


# --- every kind of change makes the tag stale -------------------------------------------


def test_a_manual_edit_makes_the_tag_stale(viewer_api, shop):
    url = balances_url(shop)
    tag = fresh_tag(viewer_api, url)
    balance_actions.balance_update(
        service=shop,
        currency="USD",
        amount="60.00",
        expected_version=None,
        reason="correction",
        actor=Actor.system("tests"),
    )
    assert_stale(viewer_api, url, tag)


def test_a_new_and_a_deleted_balance_make_the_tag_stale(viewer_api, shop):
    url = balances_url(shop)
    tag = fresh_tag(viewer_api, url)
    BalanceFactory(service=shop, currency="GBP", available=D("1.00"))
    tag = assert_stale(viewer_api, url, tag)
    Balance.objects.filter(service=shop, currency="GBP").delete()
    assert_stale(viewer_api, url, tag)


def test_a_sync_apply_makes_the_tag_stale(viewer_api, shop):
    url = balances_url(shop)
    tag = fresh_tag(viewer_api, url)
    # What a sync writes: the figures and the moment of the sync.
    Balance.objects.filter(service=shop, currency="EUR").update(
        available=D("900.00"), version=2, last_synced_at="2026-01-01T00:00:00Z"
    )
    assert_stale(viewer_api, url, tag)


def test_a_payout_hold_and_its_release_make_the_tag_stale(viewer_api, shop):
    url = balances_url(shop)
    tag = fresh_tag(viewer_api, url)
    payout, _ = payout_actions.payout_create(
        service=shop,
        currency="EUR",
        amount="100.00",
        destination="acct",
        actor=Actor.system("tests"),
    )
    tag = assert_stale(viewer_api, url, tag)  # held moved, not the version
    payout_actions.payout_cancel(payout=payout, actor=Actor.system("tests"))
    assert_stale(viewer_api, url, tag)


def test_filters_and_callers_have_tags_of_their_own(viewer_api, admin_api, shop):
    url = balances_url(shop)
    tag = fresh_tag(viewer_api, url)
    assert get(viewer_api, url + "?currency=EUR", tag).status_code == 200
    assert get(admin_api, url, tag).status_code == 200


def test_a_304_still_needs_credentials_and_the_permission(
    anonymous_api, nobody, make_api_key, shop
):
    url = balances_url(shop)
    assert get(anonymous_api, url, "*").status_code == 401
    nobody_api = api_client_with_key(make_api_key(nobody))
    assert get(nobody_api, url, "*").status_code == 403


def test_an_unknown_service_is_still_a_404(viewer_api):
    assert get(viewer_api, "/api/v1/services/srv_nope/balances", "*").status_code == 404


def test_as_of_answers_carry_no_etag(viewer_api, shop):
    response = viewer_api.get(balances_url(shop) + "?asOf=2026-01-01T00:00:00Z")
    assert response.status_code == 200
    assert not response.has_header("ETag")


# --- every list endpoint ------------------------------------------------------------------


def make_payout(shop, amount: str = "10.00"):
    payout, _ = payout_actions.payout_create(
        service=shop, currency="EUR", amount=amount, destination="acct", actor=Actor.system("t")
    )
    return payout


def test_the_payouts_list_answers_304_until_a_payout_moves(admin_api, shop):
    payout = make_payout(shop)
    url = f"/api/v1/services/{shop.public_id}/payouts"
    tag = fresh_tag(admin_api, url)
    assert_not_modified(admin_api, url, tag)
    payout_actions.payout_process(payout=payout, actor=Actor.system("t"))
    tag = assert_stale(admin_api, url, tag)
    make_payout(shop, "11.00")
    tag = assert_stale(admin_api, url, tag)
    filtered = fresh_tag(admin_api, url + "?status=processing")
    assert filtered != tag
    payout_actions.payout_cancel(payout=payout, actor=Actor.system("t"))
    assert_stale(admin_api, url + "?status=processing", filtered)  # left the filter
    assert_stale(admin_api, url, tag)
    # CSV is streamed as before, without a tag.
    assert not admin_api.get(url + "?format=csv").has_header("ETag")


def test_the_payouts_list_tag_covers_every_page(admin_api, shop):
    for n in range(3):
        make_payout(shop, f"{n + 10}.00")
    url = f"/api/v1/services/{shop.public_id}/payouts?pageSize=1&page=3"
    tag = fresh_tag(admin_api, url)
    assert_not_modified(admin_api, url, tag)
    make_payout(shop, "20.00")  # the oldest moves to page 4
    assert_stale(admin_api, url, tag)


def test_the_sync_run_lists_answer_304_until_a_run_moves(admin_api, shop):
    from balances.models import SyncRun

    run = SyncRun.objects.create(service=shop, trigger="api", provider_kind="syncpay")
    for url in (f"/api/v1/services/{shop.public_id}/sync-runs", "/api/v1/sync-runs"):
        SyncRun.objects.filter(pk=run.pk).update(status="queued", started_at=None)
        tag = fresh_tag(admin_api, url)
        assert_not_modified(admin_api, url, tag)
        SyncRun.objects.filter(pk=run.pk).update(status="running", started_at=timezone.now())
        tag = assert_stale(admin_api, url, tag)
        SyncRun.objects.filter(pk=run.pk).update(status="failed", finished_at=timezone.now())
        assert_stale(admin_api, url, tag)


def test_the_approvals_list_answers_304_until_a_request_is_decided(admin, admin_api, shop):
    from approvals.actions import approval_reject, policy_set

    policy_set(
        currency="EUR",
        manual_change_above=None,
        payout_above="50.00",
        nonzero_deletion=False,
        actor=Actor.for_user(admin),
    )
    make_payout(shop, "100.00")  # waits for approval
    url = "/api/v1/approvals"
    tag = fresh_tag(admin_api, url)
    assert_not_modified(admin_api, url, tag)
    from approvals.models import ApprovalRequest

    approval_reject(
        approval=ApprovalRequest.objects.get(), actor=Actor.for_user(admin), comment="no"
    )
    assert_stale(admin_api, url, tag)


def test_the_audit_log_answers_304_until_an_entry_is_added(admin_api, admin, shop):
    from services.actions import audit

    url = "/api/v1/audit"
    tag = fresh_tag(admin_api, url)
    assert_not_modified(admin_api, url, tag)
    audit(actor=Actor.for_user(admin), action="tested", subject="etag", service=shop)
    assert_stale(admin_api, url, tag)


def correct(shop, amount: str) -> None:
    balance_actions.balance_update(
        service=shop,
        currency="EUR",
        amount=amount,
        expected_version=None,
        reason="correction",
        actor=Actor.system("tests"),
    )


def test_the_history_lists_answer_304_until_a_change_is_added(viewer_api, shop):
    correct(shop, "995.00")
    urls = [
        f"/api/v1/services/{shop.public_id}/balances/history",
        f"/api/v1/services/{shop.public_id}/balances/EUR/history",
    ]
    tags = [fresh_tag(viewer_api, url) for url in urls]
    for url, tag in zip(urls, tags, strict=True):
        assert_not_modified(viewer_api, url, tag)
    correct(shop, "990.00")
    for url, tag in zip(urls, tags, strict=True):
        assert_stale(viewer_api, url, tag)


def test_the_schema_documents_the_etag_and_the_304(admin_api):
    schema = admin_api.get("/api/v1/schema/").json()
    for path in (
        "/api/v1/services/{serviceId}/balances",
        "/api/v1/services/{serviceId}/payouts",
        "/api/v1/sync-runs",
        "/api/v1/approvals",
        "/api/v1/services",
        "/api/v1/fee-profiles",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{webhookId}/deliveries",
        "/api/v1/balances",
    ):
        get_ = schema["paths"][path]["get"]
        assert "ETag" in get_["responses"]["200"]["headers"], path
        assert "304" in get_["responses"], path
        assert "If-None-Match" in [p["name"] for p in get_["parameters"]], path
        assert "304" not in schema["paths"][path].get("post", {}).get("responses", {})


def test_the_alert_lists_answer_304_until_a_rule_or_an_alert_moves(admin_api, admin, shop):
    from alerts import actions as alert_actions
    from alerts.models import Alert

    rules_url, alerts_url = "/api/v1/alert-rules", "/api/v1/alerts"
    rule = alert_actions.rule_create(
        service=shop,
        currency="USD",
        kind="available_below",
        threshold="100.00",
        actor=Actor.for_user(admin),
    )
    assert Alert.objects.filter(rule=rule).exists()  # USD holds 50.00: opened at once
    rules_tag, alerts_tag = fresh_tag(admin_api, rules_url), fresh_tag(admin_api, alerts_url)
    assert_not_modified(admin_api, rules_url, rules_tag)
    assert_not_modified(admin_api, alerts_url, alerts_tag)

    alert_actions.rule_update(rule=rule, actor=Actor.for_user(admin), threshold="80.00")
    rules_tag = assert_stale(admin_api, rules_url, rules_tag)
    alert_actions.alert_acknowledge(
        alert=Alert.objects.get(rule=rule), actor=Actor.for_user(admin), note="on it"
    )
    alerts_tag = assert_stale(admin_api, alerts_url, alerts_tag)
    alert_actions.rule_delete(rule=rule, actor=Actor.for_user(admin))
    assert_stale(admin_api, rules_url, rules_tag)
    assert_stale(admin_api, alerts_url, alerts_tag)
