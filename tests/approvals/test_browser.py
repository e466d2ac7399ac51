"""The Approvals queue in a real Chromium: an approver ticks requests and approves them in
bulk; the queue, a request's page and the policies page fit a 390 px phone and pass axe-core
(no serious or critical violation)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe

from approvals.actions import policy_set
from approvals.models import ApprovalRequest
from balances import actions as balance_actions
from balances.models import Balance
from core.actors import Actor
from tests.factories import BalanceFactory, ServiceFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def assert_fits_and_passes_axe(page) -> None:
    for size in VIEWPORTS.values():
        page.set_viewport_size(size)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], (page.url, size, widths)
        results = Axe().run(page)
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], (page.url, size, serious)
    page.set_viewport_size(VIEWPORTS["desktop"])


def eur_changes_above_1000() -> None:
    """EUR: manual changes above 1,000.00 need approval."""
    policy_set(
        currency="EUR",
        manual_change_above="1000.00",
        payout_above=None,
        nonzero_deletion=False,
        actor=Actor.system(),
    )


@pytest.fixture
def waiting():
    """Two balance changes of an operator waiting for approval."""
    eur_changes_above_1000()
    operator = Actor.for_user(UserFactory(username="otto", role="operator"))
    made = []
    for name in ("Alpha Pay", "Beta Pay"):
        shop = ServiceFactory(name=name)
        BalanceFactory(service=shop, currency="EUR", available=Decimal("5000.00"))
        made.append(
            balance_actions.balance_update_or_request(
                service=shop,
                currency="EUR",
                amount="12500.75",
                expected_version=None,
                actor=operator,
                reason="Provider statement of the month",
            )
        )
    return made


def test_an_approver_approves_two_requests_at_once(login_as, waiting):
    page = login_as("approver")
    nav = page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals")
    assert "2" in nav.inner_text()
    nav.click()
    page.wait_for_url("**/approvals/")
    assert page.locator("tr[data-approval]").count() == 2
    assert_fits_and_passes_axe(page)

    for request in waiting:
        page.get_by_label(f"Select {request.public_id}").check()
    page.get_by_label("Decision").select_option("approve")
    page.get_by_label("Comment").fill("Statements checked")
    page.get_by_role("button", name="Apply to ticked requests").click()
    page.get_by_text("2 requests approved").wait_for()
    assert page.locator("tr[data-approval]").count() == 0  # nothing left waiting
    assert_fits_and_passes_axe(page)

    assert set(ApprovalRequest.objects.values_list("status", flat=True)) == {"approved"}
    assert {b.available for b in Balance.objects.all()} == {Decimal("12500.75")}

    page.goto(f"/approvals/{waiting[0].public_id}/")
    page.get_by_text("approved by approver-browser").first.wait_for()
    assert_fits_and_passes_axe(page)


def test_the_request_and_policy_pages_pass_axe(login_as, waiting):
    page = login_as("admin")
    from playwright.sync_api import expect

    page.goto(f"/approvals/{waiting[0].public_id}/")
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
    assert_fits_and_passes_axe(page)

    # Each click navigates: wait for the new page before measuring it, or the measure can
    # run while the old document is being replaced (no documentElement yet).
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Approval policies"
    ).click()
    page.wait_for_url("**/approvals/policies/")
    assert_fits_and_passes_axe(page)
    page.get_by_role("link", name="Edit the EUR policy").click()
    page.get_by_label("Manual changes above").fill("10.001")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator("#id_manual_change_above_error")).to_be_visible()
    assert_fits_and_passes_axe(page)


def test_an_opening_amount_above_the_limit_waits_for_a_second_person(login_as):
    from playwright.sync_api import expect

    eur_changes_above_1000()
    shop = ServiceFactory(name="Gamma Pay")
    page = login_as("operator")
    page.goto(f"/services/{shop.public_id}/balances/")
    page.get_by_role("link", name="New balance").click()
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_label("Opening amount").fill("25000")
    page.get_by_role("button", name="Save").click()

    page.wait_for_url("**/approvals/*/")  # the request's page: the save has been answered
    [request] = ApprovalRequest.objects.all()
    page.wait_for_url(f"**/approvals/{request.public_id}/")
    expect(page.locator(".messages")).to_contain_text(
        "the EUR balance was created with 0.00; its opening amount of 25,000.00 EUR is above "
        f"the approval limit, and a second person must approve request {request.public_id}."
    )
    assert_fits_and_passes_axe(page)
    assert Balance.objects.get(service=shop).available == 0

    approver = login_as("approver")
    approver.goto(f"/approvals/{request.public_id}/")
    approver.get_by_role("button", name="Approve").click()
    expect(approver.locator(".messages")).to_contain_text(f"Request {request.public_id} approved")
    approver.goto(f"/services/{shop.public_id}/balances/")
    expect(approver.locator("#balance-EUR .balance-amount")).to_have_text("25,000.00")
    assert Balance.objects.get(service=shop).available == Decimal("25000.00")
