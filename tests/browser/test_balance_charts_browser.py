"""The charts of balances over time in a real Chromium: the balances page draws a chart per
currency, the 7/30/90 links switch the window, the table alternative opens with the exact
amounts, nothing overflows a 390 px screen, and axe-core finds no serious or critical
violation; the overview's totals over time likewise."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import expect

from balances.actions import balance_create, balance_update
from balances.models import SyncRun
from balances.providers.base import CurrencyFigures, Snapshot
from balances.sync.apply import snapshot_apply
from core.actors import Actor
from services.models import ProviderConnection
from tests.factories import ServiceFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def charted(transactional_db, monkeypatch, settings):
    """A service whose EUR balance moved by hand and by a sync over the last 40 days, built
    through the actions with the clock set back; the clock is real again for the browser."""
    settings.SYNC_PROTECTION_HOURS = 0
    real_now = timezone.now()
    person = Actor.for_user(UserFactory(username="charts-operator", role="operator"))
    service = ServiceFactory(name="Chart Payments")
    connection = ProviderConnection.objects.create(service=service, kind="syncpay")

    def at(days_ago: int) -> None:
        monkeypatch.setattr(timezone, "now", lambda: real_now - timedelta(days=days_ago))

    at(40)
    balance_create(service=service, currency="EUR", amount="1000.00", actor=person)
    balance_create(service=service, currency="KWD", amount="5.125", actor=person)
    at(20)
    balance_update(
        service=service,
        currency="EUR",
        amount="1250.50",
        expected_version=None,
        actor=person,
        reason="Correction",
    )
    at(3)
    run = SyncRun.objects.create(
        service=service, provider_kind="syncpay", trigger="command", status="running"
    )
    snapshot = Snapshot(
        kind="syncpay",
        taken_at=timezone.now(),
        figures=(
            CurrencyFigures("EUR", D("1300.00"), D("25.00"), D(0), {}),
            CurrencyFigures("KWD", D("5.125"), D(0), D(0), {}),
        ),
        omitted_means_zero=False,
        extras={},
    )
    snapshot_apply(run=run, connection=connection, snapshot=snapshot)
    monkeypatch.undo()
    return service


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_viewer_reads_a_chart_switches_its_period_and_opens_its_table(login_as, charted):
    page = login_as("viewer")
    page.goto(f"/services/{charted.public_id}/balances/")

    chart = page.locator("#chart-EUR")
    expect(chart.get_by_role("img", name="EUR balance, last 30 days")).to_be_visible()
    expect(chart.locator("polyline[data-line='available']")).to_have_count(1)
    expect(chart.locator("path[data-kind='manual']")).to_have_count(1)
    expect(chart.locator("path[data-kind='sync']")).to_have_count(1)
    legend = chart.locator(".chart-legend")
    expect(legend.get_by_text("Provider sync", exact=True)).to_be_visible()
    expect(legend.get_by_text("Manual change", exact=True)).to_be_visible()

    periods = page.get_by_role("navigation", name="Chart period")
    periods.get_by_role("link", name="7 days").click()
    expect(chart.get_by_role("img", name="EUR balance, last 7 days")).to_be_visible()
    expect(periods.get_by_role("link", name="7 days")).to_have_attribute("aria-current", "true")
    expect(chart.locator("path[data-kind='manual']")).to_have_count(0)  # 20 days ago

    periods.get_by_role("link", name="90 days").click()
    expect(chart.get_by_role("img", name="EUR balance, last 90 days")).to_be_visible()
    table = chart.get_by_role("table", name="EUR balance changes, last 90 days (times in UTC)")
    expect(table).to_be_hidden()
    chart.get_by_text("Table of the EUR balance over the last 90 days").click()
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(3)  # created, edited, synced
    expect(rows.nth(1)).to_contain_text("1,250.50")
    expect(rows.nth(1)).to_contain_text("+250.50")
    expect(rows.nth(2)).to_contain_text("25.00")
    assert serious_violations(page) == []


def test_without_javascript_a_link_opens_the_charts_as_a_page(
    login_as, charted, browser, live_server
):
    signed_in = login_as("viewer")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        context.add_cookies(signed_in.context.cookies())
        page = context.new_page()
        page.goto(f"/services/{charted.public_id}/balances/")
        expect(page.locator("#chart-EUR")).to_have_count(0)  # htmx would load them in place
        page.get_by_role("link", name="Show the charts of the balances over time").click()
        expect(page.get_by_role("heading", name="Balance charts", level=1)).to_be_visible()
        chart = page.locator("#chart-EUR")
        expect(chart.get_by_role("img", name="EUR balance, last 30 days")).to_be_visible()
        page.get_by_role("navigation", name="Chart period").get_by_role(
            "link", name="7 days"
        ).click()
        expect(chart.get_by_role("img", name="EUR balance, last 7 days")).to_be_visible()
    finally:
        context.close()
    # The same page audited (axe needs JavaScript), on a phone.
    signed_in.set_viewport_size(PHONE)
    signed_in.goto(f"/services/{charted.public_id}/balances/charts/?days=90")
    expect(signed_in.locator("#chart-KWD")).to_be_visible()
    assert fits(signed_in)
    assert serious_violations(signed_in) == []


def test_the_charts_fit_a_phone_and_pass_axe(login_as, charted):
    page = login_as("operator")
    page.set_viewport_size(PHONE)
    page.goto(f"/services/{charted.public_id}/balances/?days=90")
    # The charts load in place after the page (htmx): wait for them, then open each table.
    expect(page.locator("#chart-KWD")).to_be_visible()
    expect(page.locator("#balance-charts")).not_to_have_attribute("aria-busy", "true")
    for summary in page.locator(".chart-table summary").all():
        summary.click()
    expect(page.locator("#chart-KWD table")).to_be_visible()
    assert fits(page)
    box = page.locator("#chart-EUR svg.chart-svg").bounding_box()
    assert box is not None and box["width"] <= PHONE["width"] and box["height"] > 120
    assert serious_violations(page) == []

    page.goto("/?days=7")
    expect(page.locator("#fleet-chart-EUR").get_by_role("img")).to_be_visible()
    page.locator("#fleet-chart-EUR summary").click()
    expect(page.locator("#fleet-chart-EUR table")).to_be_visible()
    assert fits(page)
    assert serious_violations(page) == []


@pytest.mark.parametrize("failure", ["500", "network"])
def test_charts_that_fail_to_load_leave_their_link_and_are_no_longer_busy(
    login_as, charted, failure
):
    """The charts' own request answers 500 or never reaches the server: the section stops
    announcing itself as busy, and its link to the charts page stays."""
    page = login_as("operator")

    def fail(route):
        if failure == "500":
            route.fulfill(status=500, body="Server error")
        else:
            route.abort("connectionfailed")

    page.route("**/balances/charts/**", fail)
    page.goto(f"/services/{charted.public_id}/balances/")
    section = page.locator("#balance-charts")
    expect(section).to_have_attribute("aria-busy", "false")
    link = section.get_by_role("link", name="Show the charts of the balances over time")
    expect(link).to_be_visible()
    page.unroute("**/balances/charts/**")
    link.click()
    expect(page.locator("#chart-KWD")).to_be_visible()
