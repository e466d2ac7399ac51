"""Keyboard and screen-reader behaviour in a real Chromium: the skip link is the first tab stop
and moves the focus to the page's main content; after a failed submit the focus lands on the
error summary, whose links lead to the fields; the fee calculator updates by fetching only its
result; pages ask for no missing favicon; the changed pages pass axe-core."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.factories import BalanceFactory, FeeProfileFactory, FeeRuleFactory, ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def _serious_axe_violations(page) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in Axe().run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _watch(page) -> list[str]:
    """Console errors and failed requests of the page, as they happen."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    return problems


def test_the_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(login_as):
    page = login_as("viewer")
    page.goto("/services/")
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.textContent, document.activeElement.hash]")
    assert focused == ["Skip to main content", "#main"]
    expect(page.get_by_role("link", name="Skip to main content")).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # The next tab stop is inside the main content, not the navigation.
    page.keyboard.press("Tab")
    assert page.evaluate("!!document.activeElement.closest('main')")


def test_a_failed_submit_moves_the_focus_to_the_error_summary(login_as):
    page = login_as("admin")
    problems = _watch(page)
    page.goto("/services/add/")
    page.get_by_label("Name").fill("")
    page.get_by_role("button", name="Save").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("There are 2 problems")
    # The summary's link takes the focus to its field, which announces its error.
    summary.get_by_role("link", name="Name: This field is required.").click()
    name = page.locator("#id_name")
    expect(name).to_be_focused()
    assert name.get_attribute("aria-invalid") == "true"
    described = name.get_attribute("aria-describedby").split()
    texts = [page.locator(f"#{i}").inner_text() for i in described]
    assert "This field is required." in texts
    assert _serious_axe_violations(page) == []
    assert problems == []


def test_the_calculator_fetches_only_its_result(login_as, live_server):
    profile = FeeProfileFactory(name="Tiered")
    FeeRuleFactory(profile=profile, currency="", percentage="0", fixed_amount="0.30")
    page = login_as("viewer")
    problems = _watch(page)
    page.goto(f"/fee-profiles/{profile.pk}/")
    result = page.locator("#quote-result")
    expect(result).to_contain_text("costs 0.30 EUR")
    page.get_by_label("Currency").select_option("KWD")
    with page.expect_response(lambda r: "currency=KWD" in r.url) as answer:
        page.get_by_label("Amount").fill("12.5")
    body = answer.value.text()
    assert body.lstrip().startswith('<div id="quote-result"') and "<html" not in body
    expect(result).to_contain_text("A payout of 12.500 KWD costs 0.300 KWD.")
    page.get_by_label("Amount").fill("1.00001")
    expect(result).to_contain_text("Amount:")
    assert problems == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_changed_pages_pass_axe(login_as, viewport):
    service = ServiceFactory(name="Kuwait Trading")
    BalanceFactory(service=service, currency="KWD", pending=Decimal("1.000"))
    profile = FeeProfileFactory(name="Standard")
    FeeRuleFactory(profile=profile, currency="", fixed_amount="0.30")
    ServiceFactory(name="Lagos Retail", fee_profile=profile)
    page = login_as("admin")
    page.set_viewport_size(VIEWPORTS[viewport])
    problems = _watch(page)
    for path in (
        f"/services/{service.public_id}/",
        f"/services/{service.public_id}/balances/",
        f"/fee-profiles/{profile.pk}/",
        f"/fee-profiles/{profile.pk}/rules/add/",
    ):
        page.goto(path)
        expect(page.locator("[aria-busy=true]")).to_have_count(0)  # the charts swapped in
        assert _serious_axe_violations(page) == [], (path, viewport)
    expect(page.locator("link[rel=icon]").first).to_have_attribute("href", re.compile(r"favicon"))
    assert problems == []
