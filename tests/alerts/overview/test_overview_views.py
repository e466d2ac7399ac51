"""The overview at /: who sees it, the totals per currency (exact, linked to the balances
behind them), the attention list and its filters, and a query count that does not grow with
the number of services."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from alerts.models import Alert, AlertRule
from alerts.overview import queries
from balances.models import Balance, SyncRun
from tests.alerts.overview.conftest import LONG_AGO, build_world
from tests.factories import (
    PASSWORD,
    BalanceFactory,
    PayoutFactory,
    ProviderConnectionFactory,
    ServiceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def attention(response) -> list[tuple[str, str, str]]:
    """(issue, service id, currency) of each row of the attention list, in order."""
    html = response.content.decode()
    return re.findall(
        r'<tr data-issue="([a-z_]+)" data-service="([^"]+)"(?: data-currency="([^"]+)")?', html
    )


def total_cell(response, currency: str, figure: str) -> str:
    html = response.content.decode()
    row = re.search(rf'<tr data-currency="{currency}">(.*?)</tr>', html, re.S).group(1)
    cell = re.search(rf'<td class="num" data-figure="{figure}"[^>]*>(.*?)</td>', row, re.S).group(1)
    return re.sub(r"<[^>]+>", "", cell).strip()


# --- who sees it --------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login(clients):
    response = clients["anonymous"].get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_a_signed_in_user_without_a_role_is_refused(clients):
    assert clients["nobody"].get("/").status_code == 403


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_sees_the_overview(clients, role):
    response = clients[role].get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Overview</h1>" in html
    # First in the main navigation, and marked as the current section.
    nav = re.search(r'<nav class="sidebar" aria-label="Main">(.*?)</nav>', html, re.S).group(1)
    assert re.findall(r">([^<]+)</a>", nav)[0] == "Overview"
    assert 'href="/" class="active"' in nav


def test_the_overview_answers_get_only(viewer_client):
    assert viewer_client.post("/").status_code == 405


def test_logging_in_lands_on_the_overview(client, viewer):
    response = client.post("/accounts/login/", {"username": viewer.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"


# --- totals -------------------------------------------------------------------------------


def test_totals_are_exact_sums_per_currency_across_services(viewer_client):
    a, b, c = ServiceFactory(), ServiceFactory(), ServiceFactory()
    # 0.1 + 0.2 is 0.30000000000000004 as floats; the sums are done on integers.
    BalanceFactory(service=a, currency="EUR", available=Decimal("0.10"), pending=Decimal("1.01"))
    BalanceFactory(service=b, currency="EUR", available=Decimal("0.20"), reserved=Decimal("2.5"))
    BalanceFactory(service=c, currency="EUR", available=Decimal("-0.05"))
    BalanceFactory(service=a, currency="JPY", available=Decimal("5000"))
    BalanceFactory(service=b, currency="KWD", available=Decimal("1234.567"))
    # Beyond a 64-bit integer of 10^-8 units once summed: PostgreSQL's SUM is a numeric.
    big = Decimal("90000000000.12345678")
    BalanceFactory(service=a, currency="USDT_TRC20", available=big)
    BalanceFactory(service=b, currency="USDT_TRC20", available=big)
    PayoutFactory(service=c, currency="JPY", amount=Decimal("300"), funds=Decimal("1000"))

    totals = {t.currency: t for t in queries.currency_totals()}

    assert list(totals) == ["EUR", "JPY", "KWD", "USDT_TRC20"]
    eur = totals["EUR"]
    assert (eur.available, eur.pending, eur.reserved, eur.held) == (
        Decimal("0.25"),
        Decimal("1.01"),
        Decimal("2.50"),
        Decimal("0"),
    )
    assert eur.services == 3
    jpy = totals["JPY"]
    assert (jpy.available, jpy.held, jpy.available_for_payout, jpy.services) == (
        Decimal("6000"),
        Decimal("300"),
        Decimal("5700"),
        2,
    )
    assert totals["USDT_TRC20"].available == Decimal("180000000000.24691356")

    page = viewer_client.get("/")
    assert total_cell(page, "EUR", "available") == "0.25"
    assert total_cell(page, "EUR", "pending") == "1.01"
    assert total_cell(page, "EUR", "reserved") == "2.50"
    assert total_cell(page, "EUR", "services") == "3"
    assert total_cell(page, "JPY", "available") == "6,000"
    assert total_cell(page, "JPY", "held") == "300"
    assert total_cell(page, "JPY", "available_for_payout") == "5,700"
    assert total_cell(page, "KWD", "available") == "1,234.567"
    assert total_cell(page, "USDT_TRC20", "available") == "180,000,000,000.24691356"


def test_each_total_links_to_the_balances_behind_it(viewer_client):
    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR", available=Decimal("5.00"))
    html = viewer_client.get("/").content.decode()

    for figure, query in [
        ("available", "currency=EUR"),
        ("pending", "currency=EUR&amp;figure=pending"),
        ("reserved", "currency=EUR&amp;figure=reserved"),
        ("held", "currency=EUR&amp;figure=held"),
        ("available_for_payout", "currency=EUR&amp;figure=available_for_payout"),
        ("services", "currency=EUR"),
    ]:
        cell = re.search(rf'data-figure="{figure}"[^>]*>(<a [^>]+>)', html).group(1)
        assert cell == f'<a href="/balances/?{query}">', figure


def test_without_balances_the_overview_says_so(viewer_client):
    html = viewer_client.get("/").content.decode()
    assert "No balances yet." in html
    assert "Nothing needs attention." in html


# --- needs attention ----------------------------------------------------------------------


def test_negative_and_below_zero_for_payout_balances_need_attention(viewer_client):
    broke = ServiceFactory(name="Broke Ltd")
    BalanceFactory(service=broke, currency="EUR", available=Decimal("-12.34"))
    held = ServiceFactory(name="Held Ltd")
    # Holds above the available amount: a sync lowered it after the payouts were created.
    PayoutFactory(service=held, currency="EUR", amount=Decimal("80.00"), funds=Decimal("100"))
    Balance.objects.filter(service=held).update(available=Decimal("50.00"))
    fine = ServiceFactory(name="Fine Ltd")
    BalanceFactory(service=fine, currency="EUR", available=Decimal("0.00"))

    response = viewer_client.get("/")

    assert attention(response) == [
        ("negative", broke.public_id, "EUR"),
        ("payout_negative", held.public_id, "EUR"),
    ]
    html = response.content.decode()
    assert "Available \u221212.34 EUR." in html
    assert "Available 50.00 EUR, on hold for payouts 80.00 EUR." in html
    # Each row leads to the service's balances.
    assert f'href="/services/{broke.public_id}/balances/#balance-EUR"' in html


def test_stale_balances_of_connected_services_need_attention(viewer_client, settings):
    settings.SYNC_INTERVAL_MINUTES = 15
    now = timezone.now()
    connected = ServiceFactory(name="Connected")
    ProviderConnectionFactory(service=connected, kind="wise")
    BalanceFactory(service=connected, currency="EUR", last_synced_at=now - timedelta(minutes=31))
    BalanceFactory(service=connected, currency="USD", last_synced_at=now - timedelta(minutes=29))
    never = BalanceFactory(service=connected, currency="GBP", last_synced_at=None)
    Balance.objects.filter(pk=never.pk).update(created_at=now - LONG_AGO)
    # Without a provider nothing confirms a balance: it is never stale.
    manual = ServiceFactory(name="Manual")
    old = BalanceFactory(service=manual, currency="EUR", last_synced_at=None)
    Balance.objects.filter(pk=old.pk).update(created_at=now - LONG_AGO)

    response = viewer_client.get("/")

    assert attention(response) == [
        ("stale", connected.public_id, "EUR"),
        ("stale", connected.public_id, "GBP"),
    ]
    html = response.content.decode()
    assert "Never confirmed by a sync." in html
    assert "Wise" in html
    # The same rule as the stale mark of the balance cards.
    stale = [b.currency for b in Balance.objects.filter(service=connected) if b.is_stale()]
    assert sorted(stale) == ["EUR", "GBP"]


def test_paused_and_failing_connections_need_attention(viewer_client):
    paused = ServiceFactory(name="Paused Co")
    ProviderConnectionFactory(
        service=paused,
        paused_at=timezone.now(),
        paused_reason="Paused after 10 failed runs in a row",
        consecutive_failures=10,
    )
    failing = ServiceFactory(name="Failing Co")
    ProviderConnectionFactory(service=failing, consecutive_failures=2)
    SyncRun.objects.create(
        service=failing,
        provider_kind="syncpay",
        trigger=SyncRun.Trigger.SCHEDULE,
        status=SyncRun.Status.FAILED,
        finished_at=timezone.now(),
        error_category="auth",
        error_message="The API key was refused.",
    )
    healthy = ServiceFactory(name="Healthy Co")
    ProviderConnectionFactory(service=healthy)

    response = viewer_client.get("/")

    assert attention(response) == [
        ("connection_paused", paused.public_id, ""),
        ("connection_failed", failing.public_id, ""),
    ]
    html = response.content.decode()
    assert "Scheduled syncs paused: Paused after 10 failed runs in a row." in html
    assert "2 failed syncs in a row — Auth: The API key was refused." in html


def test_open_alerts_need_attention_and_amount_alerts_say_under_a_threshold(
    viewer_client, alert_of
):
    low = ServiceFactory(name="Low Funds")
    BalanceFactory(service=low, currency="EUR", available=Decimal("40.00"))
    below = alert_of(low, "EUR", AlertRule.Kind.AVAILABLE_BELOW, opened_value="40.00")
    quiet = ServiceFactory(name="Quiet")
    stale_alert = alert_of(quiet, "USD", AlertRule.Kind.STALE, threshold="60", opened_value="95")
    done = ServiceFactory(name="Done")
    alert_of(done, "EUR", AlertRule.Kind.AVAILABLE_BELOW, status=Alert.Status.RESOLVED)
    alert_of(done, "USD", AlertRule.Kind.AVAILABLE_BELOW, status=Alert.Status.ACKNOWLEDGED)

    response = viewer_client.get("/")

    assert attention(response) == [
        ("below_threshold", low.public_id, "EUR"),
        ("alert", quiet.public_id, "USD"),
    ]
    html = response.content.decode()
    assert "Available below 100.00 EUR: 40.00 EUR when opened." in html
    assert below.public_id in html and stale_alert.public_id in html
    assert "Not confirmed by a sync for over 60 minutes: 95 minutes when opened." in html


def test_alert_rows_are_only_for_those_who_may_see_alerts(client, alert_of):
    service = ServiceFactory()
    alert_of(service, "EUR", AlertRule.Kind.AVAILABLE_BELOW)
    BalanceFactory(service=service, currency="USD", available=Decimal("-1.00"))
    reader = UserFactory(username="balances-only")
    reader.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["services", "balances"],
            codename__in=["view_service", "view_balance"],
        )
    )
    client.force_login(reader)

    assert attention(client.get("/")) == [("negative", service.public_id, "USD")]


# --- filters ------------------------------------------------------------------------------


@pytest.fixture
def mixed(alert_of):
    """Nigeria on SyncPay, Ghana on Wise (suspended), Kenya without a provider."""
    ng = ServiceFactory(name="Lagos", country="NG")
    ProviderConnectionFactory(service=ng, kind="syncpay", consecutive_failures=1)
    BalanceFactory(service=ng, currency="NGN", available=Decimal("-100.00"))
    gh = ServiceFactory(name="Accra", country="GH", status="suspended")
    ProviderConnectionFactory(service=gh, kind="wise")
    BalanceFactory(service=gh, currency="GHS", available=Decimal("-5.00"))
    alert_of(gh, "GHS", AlertRule.Kind.AVAILABLE_BELOW, opened_value="-5.00")
    ke = ServiceFactory(name="Nairobi", country="KE")
    BalanceFactory(service=ke, currency="KES", available=Decimal("-7.00"))
    BalanceFactory(service=ke, currency="NGN", available=Decimal("-1.00"))
    return {"ng": ng, "gh": gh, "ke": ke}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {},
            [
                "negative gh GHS",
                "negative ng NGN",
                "negative ke KES",
                "negative ke NGN",
                "below_threshold gh GHS",
                "connection_failed ng ",
            ],
        ),
        ({"currency": "NGN"}, ["negative ng NGN", "negative ke NGN", "connection_failed ng "]),
        ({"provider": "wise"}, ["negative gh GHS", "below_threshold gh GHS"]),
        ({"provider": "none"}, ["negative ke KES", "negative ke NGN"]),
        ({"country": "NG"}, ["negative ng NGN", "connection_failed ng "]),
        ({"status": "suspended"}, ["negative gh GHS", "below_threshold gh GHS"]),
        ({"issue": "connection_failed"}, ["connection_failed ng "]),
        ({"issue": "below_threshold", "country": "GH"}, ["below_threshold gh GHS"]),
        ({"currency": "KES", "provider": "syncpay"}, []),
        # A value that is not one of the choices is ignored; the others still apply.
        ({"currency": "XXX", "country": "KE"}, ["negative ke KES", "negative ke NGN"]),
    ],
)
def test_the_attention_list_filters(viewer_client, mixed, query, expected):
    names = {s.public_id: key for key, s in mixed.items()}
    rows = attention(viewer_client.get("/", query))
    assert [f"{issue} {names[sid]} {cur}" for issue, sid, cur in rows] == expected


def test_filters_are_kept_by_the_pages_of_the_attention_list(viewer_client):
    services = ServiceFactory.create_batch(55, country="GH")
    for service in services:
        BalanceFactory(service=service, currency="EUR", available=Decimal("-1.00"))
    first = viewer_client.get("/", {"country": "GH"})
    assert len(attention(first)) == 50
    assert 'href="?country=GH&amp;page=2"' in first.content.decode()
    second = viewer_client.get("/", {"country": "GH", "page": 2})
    assert len(attention(second)) == 5
    BalanceFactory(service=ServiceFactory(country="KE"), currency="EUR")  # nothing wrong
    assert (
        "Nothing matches these filters."
        in viewer_client.get("/", {"country": "KE"}).content.decode()
    )


# --- queries ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 300])
def test_the_overview_costs_the_same_queries_for_1_and_300_services(
    viewer_client, django_assert_num_queries, count
):
    build_world(count)
    with django_assert_num_queries(10):
        # 1. the session
        # 2. the user
        # 3. the user's own permissions, those of their groups and the groups' names (role
        #    badges in base.html), one UNION
        # 4. totals per currency (one GROUP BY)
        # 5. the services' countries (the country filter)
        # 6. balances needing attention, with service and connection joined
        # 7. paused and failing connections, with service and last failed run
        # 8. open alerts, with service and connection joined
        # 9. the changes of the chart window per currency and day (totals over time)
        # 10. the number of open alerts (the Alerts badge in base.html's navigation), counted
        #    into the cache (empty at the start of a test)
        response = viewer_client.get("/")
    assert response.status_code == 200
    rows = attention(response)
    assert len(rows) == min(50, 6 * count)  # the first page
    totals = {t.currency: t for t in queries.currency_totals()}
    assert totals["EUR"].available == Decimal("-1.50") * count
    assert totals["USD"].available_for_payout == Decimal("-15.00") * count
    assert totals["GBP"].services == count
