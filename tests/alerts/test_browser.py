"""Alerts in a real Chromium: following the count in the navigation, filtering, acknowledging
with a note, and every alerts page on a desktop and on a 390 px phone (no horizontal
scrolling, no serious or critical axe-core violation)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from alerts import actions
from alerts.models import Alert
from balances import actions as balance_actions
from core.actors import Actor
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def world():
    """Two services under alerts, one of them resolved already; long names and figures (the
    phone's worst case)."""
    system = Actor.system("tests")
    berlin = ServiceFactory(name="Berlin Marketplace GmbH & Co. KG International")
    BalanceFactory(service=berlin, currency="USDT_TRC20", available=Decimal("50000.12345678"))
    lagos = ServiceFactory(name="Lagos Payments")
    BalanceFactory(service=lagos, currency="NGN", available=Decimal("900000.00"))
    actions.rule_create(
        service=None,
        currency="USDT_TRC20",
        kind="available_below",
        threshold="100000.00000001",
        emails=["treasury-operations-team@very-long-domain-name.example.com"],
        actor=system,
    )
    rule = actions.rule_create(
        service=lagos, currency="NGN", kind="available_below", threshold="1000000", actor=system
    )
    for amount in ("5000000", "20.00"):  # resolves the NGN alert, then opens it again
        balance_actions.balance_update(
            service=lagos,
            currency="NGN",
            amount=amount,
            expected_version=None,
            actor=system,
            reason="t",
        )
    return {
        "berlin": berlin,
        "lagos": lagos,
        "rule": rule,
        "usdt": Alert.objects.get(currency="USDT_TRC20"),
        "ngn": Alert.objects.get(currency="NGN", status="open"),
    }


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_an_operator_follows_the_count_filters_and_acknowledges(login_as, world):
    page = login_as("operator")
    nav = page.get_by_role("navigation", name="Main")
    alerts_link = nav.get_by_role("link", name="Alerts")
    expect(alerts_link).to_contain_text("2")  # two open alerts
    alerts_link.click()

    expect(page.get_by_role("heading", name="Alerts", level=1)).to_be_visible()
    rows = page.locator("table.alerts tbody tr")
    expect(rows).to_have_count(3)  # history included: the resolved NGN alert
    page.get_by_label("Status").select_option("open")
    page.get_by_label("Currency").select_option("NGN")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name=world["ngn"].public_id).click()

    expect(page.get_by_role("heading", name="Available below · NGN")).to_be_visible()
    page.get_by_label("Note").fill("Treasury tops up Lagos at 14:00")
    page.get_by_role("button", name="Acknowledge").click()

    expect(page.locator(".messages")).to_contain_text(
        f"Alert {world['ngn'].public_id} acknowledged."
    )
    expect(page.locator(".alert-facts")).to_contain_text("Treasury tops up Lagos at 14:00")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(nav.get_by_role("link", name="Alerts")).to_contain_text("1")
    alert = Alert.objects.get(pk=world["ngn"].pk)
    assert (alert.status, alert.acknowledged_by_label) == ("acknowledged", "operator-browser")


def test_a_viewer_reads_but_cannot_acknowledge(login_as, world):
    page = login_as("viewer")
    page.goto(f"/alerts/{world['usdt'].public_id}/")
    expect(page.locator(".alert-facts")).to_contain_text("50000.12345678 USDT_TRC20")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    page.goto("/alert-rules/")
    expect(page.get_by_role("link", name="Add rule")).to_have_count(0)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_alerts_page_fits_the_screen_and_passes_axe(login_as, world, viewport):
    page = login_as("admin")
    page.set_viewport_size(VIEWPORTS[viewport])
    rule = world["rule"].public_id
    urls = [
        "/alerts/",
        "/alerts/?status=resolved",
        f"/alerts/{world['usdt'].public_id}/",
        f"/alerts/{world['ngn'].public_id}/",
        "/alert-rules/",
        "/alert-rules/add/",
        f"/alert-rules/{rule}/edit/",
        f"/alert-rules/{rule}/delete/",
    ]
    problems = []
    for url in urls:
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        page.wait_for_load_state("load")
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            problems.append(f"{url}: {widths[0]} px wide in a {widths[1]} px window")
        problems += [f"{url}: {v}" for v in serious_violations(page)]
    assert problems == [], "\n".join(problems)


def test_an_admin_adds_a_rule_and_the_alert_opens_at_once(login_as, world):
    page = login_as("admin")
    page.goto("/alert-rules/")
    page.get_by_role("link", name="Add rule").click()
    page.get_by_label("Service").select_option(world["berlin"].public_id)
    page.get_by_label("Currency").select_option("USDT_TRC20")
    page.get_by_label("Kind").select_option("available_for_payout_below")
    page.get_by_label("Threshold").fill("60,000.5")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("added")
    opened = Alert.objects.get(kind="available_for_payout_below")
    assert (opened.service_id, opened.opened_value) == (world["berlin"].pk, "50000.12345678")
