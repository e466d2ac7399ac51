"""The navigation's badges (open alerts, approval requests waiting) come from the cache, which
the writes that change them keep current once committed; pages pay no query for them and
stay right when the cache is empty or unreachable."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.cache import cache

from alerts import queries
from alerts.actions import alert_acknowledge, alerts_check, rule_delete
from alerts.models import Alert
from approvals.actions import approval_approve, approval_reject, policy_set
from balances import actions as balance_actions
from core.actors import Actor
from tests.balances.sync.test_sync_queue_down import RedisSwitch
from tests.factories import BalanceFactory, ServiceFactory


def open_badge(client) -> int:
    page = client.get("/services/").content.decode()
    found = re.search(r'data-open-alerts="(\d+)"', page)
    return int(found.group(1)) if found else 0


def waiting_badge(client) -> int:
    page = client.get("/services/").content.decode()
    found = re.search(r'data-pending-approvals="(\d+)"', page)
    return int(found.group(1)) if found else 0


def set_usd(service, amount: str, actor: Actor) -> None:
    balance_actions.balance_update(
        service=service,
        currency="USD",
        amount=amount,
        expected_version=None,
        actor=actor,
        reason="t",
    )


@pytest.fixture
def two_watched(db):
    services = [ServiceFactory(name=f"Watched {n}") for n in range(2)]
    for service in services:
        BalanceFactory(service=service, currency="USD", available=Decimal("150.00"))
    return services


def test_the_open_alerts_badge_follows_openings_acknowledgements_and_resolutions(
    viewer_client, two_watched, make_rule, operator_actor, django_capture_on_commit_callbacks
):
    first, second = two_watched
    assert open_badge(viewer_client) == 0
    make_rule(service=None, threshold="100.00")
    with django_capture_on_commit_callbacks(execute=True):
        set_usd(first, "60.00", operator_actor)  # opens
    assert open_badge(viewer_client) == 1
    with django_capture_on_commit_callbacks(execute=True):
        set_usd(second, "50.00", operator_actor)  # opens
    assert open_badge(viewer_client) == 2

    with django_capture_on_commit_callbacks(execute=True):
        set_usd(first, "500.00", operator_actor)  # resolves
    assert open_badge(viewer_client) == 1
    with django_capture_on_commit_callbacks(execute=True):
        alert_acknowledge(alert=Alert.objects.get(status="open"), actor=operator_actor, note="x")
    assert open_badge(viewer_client) == 0
    assert Alert.objects.filter(status="acknowledged").count() == 1


def test_deleting_a_rule_resolves_its_alerts_and_the_badge_follows(
    viewer_client,
    two_watched,
    make_rule,
    operator_actor,
    admin_actor,
    django_capture_on_commit_callbacks,
):
    rule = make_rule(service=None, threshold="100.00")
    with django_capture_on_commit_callbacks(execute=True):
        for service in two_watched:
            set_usd(service, "60.00", operator_actor)
    assert open_badge(viewer_client) == 2
    with django_capture_on_commit_callbacks(execute=True):
        rule_delete(rule=rule, actor=admin_actor)
    assert open_badge(viewer_client) == 0


def test_a_rolled_back_opening_leaves_the_badge_alone(
    viewer_client, two_watched, make_rule, operator_actor, django_capture_on_commit_callbacks
):
    make_rule(service=None, threshold="100.00")
    assert open_badge(viewer_client) == 0  # counted into the cache
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        set_usd(two_watched[0], "60.00", operator_actor)
    # Not committed (the callbacks did not run): the cached count stays as it was.
    assert callbacks and open_badge(viewer_client) == 0


def test_what_no_event_tells_is_corrected_by_the_periodic_check(
    viewer_client, two_watched, make_rule, operator_actor, django_capture_on_commit_callbacks
):
    make_rule(service=None, threshold="100.00")
    with django_capture_on_commit_callbacks(execute=True):
        set_usd(two_watched[0], "60.00", operator_actor)
    assert open_badge(viewer_client) == 1
    Alert.objects.all().delete()  # as a service's deletion takes its alerts: no event
    assert open_badge(viewer_client) == 1  # the cache does not know yet
    alerts_check()
    assert open_badge(viewer_client) == 0


def test_an_empty_cache_is_counted_again_and_kept(
    viewer_client, two_watched, make_rule, operator_actor, django_assert_num_queries
):
    make_rule(service=None, threshold="100.00")
    set_usd(two_watched[0], "60.00", operator_actor)  # no on-commit: the cache knows nothing
    cache.delete(queries.OPEN_COUNT_KEY)
    with django_assert_num_queries(1):
        assert queries.open_alert_count() == 1
    with django_assert_num_queries(0):
        assert queries.open_alert_count() == 1
    assert cache.get(queries.OPEN_COUNT_KEY) == 1


def test_with_the_cache_down_the_badge_is_counted_and_pages_render(
    settings, viewer_client, two_watched, make_rule, operator_actor, caplog
):
    make_rule(service=None, threshold="100.00")
    set_usd(two_watched[0], "60.00", operator_actor)
    redis = RedisSwitch(settings)
    redis.down()
    try:
        assert open_badge(viewer_client) == 1
        response = viewer_client.get(f"/services/{two_watched[0].public_id}/balances/")
        assert response.status_code == 200 and 'data-open-alerts="1"' in response.content.decode()
        # A write while the cache is down: committed, and its recount does not fail it.
        alert_acknowledge(alert=Alert.objects.get(), actor=operator_actor, note="x")
        assert queries.recount_open_alerts() == 0
        assert open_badge(viewer_client) == 0
    finally:
        redis.up()
    assert "could not be read from the cache" in caplog.text


# --- approvals ----------------------------------------------------------------------------


@pytest.fixture
def eur_policy(db, admin_actor):
    return policy_set(
        currency="EUR",
        manual_change_above="1000.00",
        payout_above=None,
        nonzero_deletion=False,
        actor=admin_actor,
    )


def ask(service, actor: Actor):
    return balance_actions.balance_update_or_request(
        service=service,
        currency="EUR",
        amount="9000.00",
        expected_version=None,
        actor=actor,
        reason="statement",
    )


def test_the_approvals_badge_follows_requests_and_decisions(
    viewer_client, eur_policy, operator_actor, admin_actor, django_capture_on_commit_callbacks
):
    shops = [ServiceFactory(name=f"Shop {n}") for n in range(2)]
    for shop in shops:
        BalanceFactory(service=shop, currency="EUR", available=Decimal("5000.00"))
    assert waiting_badge(viewer_client) == 0
    with django_capture_on_commit_callbacks(execute=True):
        first = ask(shops[0], operator_actor)
        second = ask(shops[1], operator_actor)
    assert waiting_badge(viewer_client) == 2
    with django_capture_on_commit_callbacks(execute=True):
        approval_approve(approval=first, actor=admin_actor)
    assert waiting_badge(viewer_client) == 1
    with django_capture_on_commit_callbacks(execute=True):
        approval_reject(approval=second, actor=admin_actor, comment="no")
    assert waiting_badge(viewer_client) == 0


def test_with_the_cache_down_the_approvals_badge_is_left_out_and_pages_render(
    settings, viewer_client, eur_policy, operator_actor, django_capture_on_commit_callbacks
):
    shop = ServiceFactory(name="Shop")
    BalanceFactory(service=shop, currency="EUR", available=Decimal("5000.00"))
    redis = RedisSwitch(settings)
    redis.down()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ask(shop, operator_actor)  # committed although the count cannot be cached
        response = viewer_client.get("/approvals/")
        assert response.status_code == 200
        assert "data-pending-approvals" not in response.content.decode()
    finally:
        redis.up()


def test_a_write_opening_many_alerts_recounts_once(
    viewer_client, two_watched, make_rule, django_capture_on_commit_callbacks
):
    for service in two_watched:
        BalanceFactory(service=service, currency="EUR", available=Decimal("5.00"))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        make_rule(service=None, currency="EUR", threshold="100.00")  # opens one per balance
    assert Alert.objects.filter(status="open").count() == 2
    assert [c.__name__ for c in callbacks].count("_recount_committed") == 1
    assert open_badge(viewer_client) == 2
