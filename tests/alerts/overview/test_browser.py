"""The overview in a real Chromium: the landing page after login, its links, the bulk payout
actions, and every page of it on a desktop and on a 390 px phone (no horizontal scrolling,
no serious or critical axe-core violation)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import expect

from alerts.models import AlertRule
from balances.models import SyncRun
from payouts.models import Payout
from tests.alerts.overview.conftest import make_alert
from tests.factories import (
    BalanceFactory,
    PayoutFactory,
    ProviderConnectionFactory,
    ServiceFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = ["/", "/balances/?currency=EUR", "/sync-runs/", "/payouts/"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def world():
    """A bit of everything, with long names and long figures (the phone's worst case)."""
    berlin = ServiceFactory(name="Berlin Marketplace GmbH & Co. KG International", country="DE")
    BalanceFactory(service=berlin, currency="EUR", available=Decimal("12500.75"))
    BalanceFactory(service=berlin, currency="USDT_TRC20", available=Decimal("-92233720.12345678"))
    lagos = ServiceFactory(name="Lagos Payments", country="NG")
    ProviderConnectionFactory(
        service=lagos,
        paused_at=timezone.now(),
        paused_reason="Paused after 10 failed runs in a row",
        consecutive_failures=10,
    )
    BalanceFactory(
        service=lagos,
        currency="EUR",
        available=Decimal("40.00"),
        last_synced_at=timezone.now() - timedelta(days=2),
    )
    make_alert(lagos, "EUR", AlertRule.Kind.AVAILABLE_BELOW)
    SyncRun.objects.create(
        service=lagos,
        provider_kind="syncpay",
        trigger=SyncRun.Trigger.SCHEDULE,
        status=SyncRun.Status.FAILED,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        error_category="timeout",
        error_message="The provider did not answer within 10 seconds.",
    )
    first = PayoutFactory(service=berlin, currency="EUR", amount=Decimal("100.00"))
    second = PayoutFactory(
        service=berlin, currency="EUR", amount=Decimal("200.00"), status="processing"
    )
    return {"berlin": berlin, "lagos": lagos, "pending": first, "processing": second}


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_a_viewer_lands_on_the_overview_and_follows_a_total(login_as, world):
    page = login_as("viewer")

    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    eur = page.locator('table.totals tr[data-currency="EUR"]')
    expect(eur.locator('[data-figure="available"]')).to_have_text("12,540.75")
    expect(eur.locator('[data-figure="held"]')).to_have_text("300.00")
    expect(eur.locator('[data-figure="services"]')).to_have_text("2")
    attention = page.locator("table.attention tbody tr")
    expect(attention.filter(has_text="Negative balance")).to_have_count(1)
    expect(attention.filter(has_text="Provider connection paused")).to_have_count(1)
    expect(attention.filter(has_text="Under an alert threshold")).to_have_count(1)
    expect(attention.filter(has_text="Stale balance")).to_have_count(1)

    # A filter, then a total's balances.
    page.get_by_label("Issue").select_option("stale")
    page.get_by_role("button", name="Filter").click()
    expect(attention).to_have_count(1)
    expect(attention.first).to_contain_text("Lagos Payments")

    eur.locator('[data-figure="held"] a').click()
    expect(page.get_by_role("heading", name="Balances in EUR")).to_be_visible()
    rows = page.locator("table.balances-across tbody tr")
    expect(rows).to_have_count(1)
    expect(page.locator("tfoot")).to_contain_text("300.00")
    rows.first.get_by_role("link", name=world["berlin"].name).click()
    page.wait_for_url(f"**/services/{world['berlin'].public_id}/balances/#balance-EUR")
    expect(page.get_by_role("heading", name="Balances", level=1, exact=True)).to_be_visible()
    # Viewers are offered no payout action.
    page.goto("/payouts/")
    expect(page.locator("table.payouts-waiting tbody tr")).to_have_count(2)
    expect(page.get_by_role("button", name="Apply to ticked payouts")).to_have_count(0)


def test_an_operator_acts_on_several_payouts_at_once(login_as, world):
    page = login_as("operator")
    pending, processing = world["pending"], world["processing"]
    page.get_by_role("navigation", name="Across services").get_by_role(
        "link", name="Payouts waiting"
    ).click()
    expect(page.get_by_role("heading", name="Payouts waiting")).to_be_visible()

    # "Select all" (static/js/app.js) ticks every payout of the page.
    page.get_by_label("Select every payout on this page").check()
    expect(page.get_by_label(f"Select {pending.public_id}")).to_be_checked()
    expect(page.get_by_label(f"Select {processing.public_id}")).to_be_checked()
    page.get_by_label("Action").select_option("process")
    page.get_by_role("button", name="Apply to ticked payouts").click()

    messages = page.locator(".messages")
    expect(messages).to_contain_text(f"Payout {pending.public_id} is now processing.")
    expect(messages).to_contain_text(f"{processing.public_id} refused:")
    statuses = dict(Payout.objects.values_list("public_id", "status"))
    assert statuses == {pending.public_id: "processing", processing.public_id: "processing"}

    # Both are processing now: each offers Mark paid.
    for payout in (pending, processing):
        row = page.locator(f'tr[data-payout="{payout.public_id}"]')
        expect(row.get_by_role("link", name=f"Mark paid {payout.public_id}")).to_be_visible()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_overview_page_fits_the_screen_and_passes_axe(login_as, world, viewport):
    page = login_as("operator")
    page.set_viewport_size(VIEWPORTS[viewport])
    problems = []
    for url in PAGES:
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        page.wait_for_load_state("load")
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            problems.append(f"{url}: {widths[0]} px wide in a {widths[1]} px window")
        problems += [f"{url}: {v}" for v in serious_violations(page)]
    assert problems == [], "\n".join(problems)
