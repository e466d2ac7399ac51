"""ETags of the lists that no one aggregate describes (services, fee profiles, webhooks and
their deliveries, balances across services): the validator is the page itself as loaded
(core.api.etag.etag_page).  A 304 until anything the page shows changes, without
serializing; the 200 reads its page once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from balances import actions as balance_actions
from balances.models import SyncRun
from core.actors import Actor
from services.api.serializers import ServiceListItemOut
from services.fees import actions as fee_actions
from tests.core.api.test_list_etags import (
    assert_not_modified,
    assert_stale,
    fresh_tag,
    get,
)
from tests.factories import (
    BalanceFactory,
    FeeProfileFactory,
    ProviderConnectionFactory,
    ServiceFactory,
)
from webhooks.models import Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db
D = Decimal
SERVICES = "/api/v1/services"


@pytest.fixture
def shops(db):
    shops = [ServiceFactory(name=f"Shop {n}", country="DE") for n in range(3)]
    for shop in shops:
        BalanceFactory(service=shop, currency="EUR", available=D("100.00"))
    return shops


def system() -> Actor:
    return Actor.system("tests")


def test_the_services_list_answers_304_until_anything_it_shows_changes(viewer_api, shops):
    first = shops[0]
    tag = fresh_tag(viewer_api, SERVICES)
    assert_not_modified(viewer_api, SERVICES, tag)

    # The last balance change (a balance's updated_at).
    balance_actions.balance_update(
        service=first,
        currency="EUR",
        amount="90.00",
        expected_version=None,
        actor=system(),
        reason="correction",
    )
    tag = assert_stale(viewer_api, SERVICES, tag)
    # The balance count.
    BalanceFactory(service=first, currency="USD")
    tag = assert_stale(viewer_api, SERVICES, tag)
    # The provider.
    ProviderConnectionFactory(service=shops[1], kind="wise", actor=system())
    tag = assert_stale(viewer_api, SERVICES, tag)
    # The latest sync run's status, moving without a new row.
    run = SyncRun.objects.create(service=shops[1], provider_kind="wise", trigger="manual")
    tag = assert_stale(viewer_api, SERVICES, tag)
    SyncRun.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())
    tag = assert_stale(viewer_api, SERVICES, tag)
    # The service itself, and a new one.
    from services.actions import service_update

    service_update(service=shops[2], actor=system(), name="Shop Renamed")
    tag = assert_stale(viewer_api, SERVICES, tag)
    ServiceFactory(name="Shop New")
    tag = assert_stale(viewer_api, SERVICES, tag)
    assert_not_modified(viewer_api, SERVICES, tag)


def test_the_304_serializes_nothing_and_the_200_reads_its_page_once(
    viewer_api, shops, monkeypatch, django_assert_num_queries
):
    assert get(viewer_api, SERVICES).status_code == 200  # the key's last use, once a minute
    # 1 the API key with its user; 2 their permissions; 3 the count; 4 the page (with each
    # service's figures): the tag is computed from the page the answer then shows.
    with django_assert_num_queries(4):
        response = get(viewer_api, SERVICES)
    assert response.status_code == 200
    tag = response["ETag"]

    def refuse(self, instance):
        raise AssertionError("a 304 must not serialize")

    monkeypatch.setattr(ServiceListItemOut, "to_representation", refuse)
    with django_assert_num_queries(4):
        assert_not_modified(viewer_api, SERVICES, tag)


def test_each_page_and_search_has_its_own_tag(viewer_api, shops):
    page_1 = fresh_tag(viewer_api, f"{SERVICES}?pageSize=2")
    page_2 = fresh_tag(viewer_api, f"{SERVICES}?pageSize=2&page=2")
    found = fresh_tag(viewer_api, f"{SERVICES}?search=Shop%201")
    assert len({page_1, page_2, found}) == 3
    # A change on the second page only: the first page's body is the same, so is its tag.
    service = shops[2]
    BalanceFactory(service=service, currency="USD")
    assert_not_modified(viewer_api, f"{SERVICES}?pageSize=2", page_1)
    assert_stale(viewer_api, f"{SERVICES}?pageSize=2&page=2", page_2)
    # A page past the end is still a 404, and a bad search a 400: no tag.
    assert get(viewer_api, f"{SERVICES}?page=9", page_1).status_code == 404
    bad = get(viewer_api, f"{SERVICES}?search={'x' * 201}", page_1)
    assert bad.status_code == 400 and not bad.has_header("ETag")


def test_the_fee_profiles_list_answers_304_until_a_profile_or_its_use_changes(admin_api, shops):
    url = "/api/v1/fee-profiles"
    profile = FeeProfileFactory(name="Flat", actor=system(), rules=[])
    tag = fresh_tag(admin_api, url)
    assert_not_modified(admin_api, url, tag)

    fee_actions.fee_rule_create(
        profile=profile,
        actor=system(),
        operation="payout",
        currency="EUR",
        percentage="1.5",
        fixed_amount="0.25",
    )
    tag = assert_stale(admin_api, url, tag)
    from services.actions import service_update

    service_update(service=shops[0], actor=system(), fee_profile=profile)  # its serviceIds
    tag = assert_stale(admin_api, url, tag)
    assert_not_modified(admin_api, url, tag)


def test_the_webhook_lists_answer_304_until_a_webhook_or_a_delivery_moves(admin_api):
    now = timezone.now()
    webhook = Webhook.objects.create(
        url="https://hooks.example.com/in",
        events=["balance.changed"],
        secret_encrypted="x",
        secret_created_at=now,
    )
    event = WebhookEvent.objects.create(type="balance.changed", created_at=now, body=b"{}")
    delivery = WebhookDelivery.objects.create(webhook=webhook, event=event)
    hooks, deliveries = "/api/v1/webhooks", f"/api/v1/webhooks/{webhook.public_id}/deliveries"
    hooks_tag, deliveries_tag = fresh_tag(admin_api, hooks), fresh_tag(admin_api, deliveries)
    assert_not_modified(admin_api, hooks, hooks_tag)
    assert_not_modified(admin_api, deliveries, deliveries_tag)

    # An attempt: the delivery's log (prefetched); the webhook itself has not changed.
    WebhookAttempt.objects.create(
        delivery=delivery, number=1, outcome="http_error", status_code=500, started_at=now
    )
    deliveries_tag = assert_stale(admin_api, deliveries, deliveries_tag)
    assert_not_modified(admin_api, hooks, hooks_tag)
    # The delivery fails (its status) and the webhook is failing since then (failingSince).
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="failed", attempts=1, next_attempt_at=None
    )
    deliveries_tag = assert_stale(admin_api, deliveries, deliveries_tag)
    Webhook.objects.filter(pk=webhook.pk).update(failing_since=now)
    hooks_tag = assert_stale(admin_api, hooks, hooks_tag)
    Webhook.objects.filter(pk=webhook.pk).update(active=False)
    assert_stale(admin_api, hooks, hooks_tag)
    # The tag of another webhook's deliveries is a 404, not a 304.
    assert get(admin_api, "/api/v1/webhooks/wh_none/deliveries", "*").status_code == 404


def test_balances_across_services_answer_304_until_a_balance_moves(viewer_api, shops):
    url = "/api/v1/balances"
    then = f"{url}?asOf={timezone.now().isoformat().replace('+00:00', 'Z')}"
    tag, then_tag = fresh_tag(viewer_api, url), fresh_tag(viewer_api, then)
    assert_not_modified(viewer_api, url, tag)
    assert_not_modified(viewer_api, then, then_tag)

    balance_actions.balance_update(
        service=shops[1],
        currency="EUR",
        amount="5.00",
        expected_version=None,
        actor=system(),
        reason="correction",
    )
    assert_stale(viewer_api, url, tag)
    assert_not_modified(viewer_api, then, then_tag)  # the past did not change
    csv = viewer_api.get(f"{url}?format=csv", headers={"If-None-Match": "*"})
    assert csv.status_code == 200 and not csv.has_header("ETag")


def test_the_tag_depends_on_the_host_that_shapes_the_page_links(viewer_api, shops, settings):
    settings.ALLOWED_HOSTS = ["testserver", "backoffice.example.com"]
    url = f"{SERVICES}?pageSize=2"
    here = fresh_tag(viewer_api, url)
    there = viewer_api.get(url, HTTP_HOST="backoffice.example.com", HTTP_IF_NONE_MATCH=here)
    assert there.status_code == 200  # its next link names the other host
    assert there.json()["next"].startswith("http://backoffice.example.com/")
    assert there["ETag"] != here
