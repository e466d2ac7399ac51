"""A sync held back by a value set by hand, in a real Chromium: the operator updates the
balances, the card says what waits, the review page shows both values (axe-core, desktop and
a 390 px phone) and accepting the provider's value updates the card."""

from __future__ import annotations

from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from balances.actions import balance_create, balance_update
from balances.connections.actions import connection_save
from balances.models import Balance, BalanceReview
from balances.sync.request import sync_request
from core.actors import Actor
from tests.factories import ServiceFactory, UserFactory
from tests.provider_server import SYNCPAY_PATH, ProviderServer, syncpay_body

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def provider(allow_listed):
    with ProviderServer() as server:
        allow_listed(server.url)
        server.route(SYNCPAY_PATH, syncpay_body(("USD", "1250.50", "0.00"), ("NGN", "7.00", "0")))
        yield server


@pytest.fixture
def service(provider):
    """USD corrected by hand by another operator; the provider reports 1,250.50."""
    other = UserFactory(username="olu", role="operator")
    actor = Actor.for_user(other)
    service = ServiceFactory(name="Abuja Market")
    for currency in ("USD", "NGN"):
        balance_create(service=service, currency=currency, amount=Decimal("5.00"), actor=actor)
    balance_update(
        service=service,
        currency="USD",
        amount=Decimal("1100.00"),
        expected_version=1,
        actor=actor,
        reason="refund booked by hand",
    )
    connection_save(
        service=service,
        kind="syncpay",
        actor=actor,
        base_url=provider.url,
        credentials={"apiKey": "sk_test_reviews123"},
    )
    return service


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_an_operator_reviews_a_held_value_and_accepts_the_providers(login_as, service):
    page = login_as("operator")
    page.goto(f"/services/{service.public_id}/balances/")
    page.get_by_role("button", name="Update balances").click()

    status = page.locator("#sync-status")
    expect(status).to_contain_text("1 held for review", timeout=15000)
    card = page.locator("#balance-USD")
    expect(card).to_contain_text("Waiting for review")
    expect(card).to_contain_text("provider reports 1,250.50 (difference +150.50)")
    expect(card.locator(".balance-amount")).to_have_text("1,100.00")
    expect(page.locator("#balance-NGN .balance-amount")).to_have_text("7.00")

    card.get_by_role("link", name="Review").click()
    expect(page.get_by_role("heading", name="Review USD balance")).to_be_visible()
    table = page.get_by_role("table", name="Value set by hand and the provider's value")
    expect(table).to_contain_text("by olu")
    expect(table.locator('[data-figure="provider"]')).to_have_text("1,250.50")
    expect(table.locator('[data-figure="difference"]')).to_have_text("+150.50")

    problems = []
    for name, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            problems.append(f"{name}: {widths[0]} px wide in a {widths[1]} px window")
        problems += [f"{name}: {v}" for v in serious_violations(page)]
        button = page.get_by_role("button", name="Accept provider value").bounding_box()
        assert button is not None and button["height"] >= 44, (name, button)
    assert problems == [], "\n".join(problems)

    page.get_by_label("Note").fill("matches the bank statement")
    page.get_by_role("button", name="Accept provider value").click()

    expect(page.locator(".messages")).to_contain_text("USD balance set to the provider's value")
    expect(page.locator("#balance-USD .balance-amount")).to_have_text("1,250.50")
    expect(page.locator("#balance-USD")).not_to_contain_text("Waiting for review")
    balance = Balance.objects.get(service=service, currency="USD")
    assert balance.available == Decimal("1250.50")
    review = BalanceReview.objects.get()
    assert (review.status, review.decided_by_label, review.note) == (
        "accept_provider",
        "operator-browser",
        "matches the bank statement",
    )


def test_a_viewer_reads_the_review_without_buttons(login_as, service, provider):
    sync_request(service=service, trigger="command")
    assert BalanceReview.objects.filter(status="open").exists()
    page = login_as("viewer")
    page.goto(f"/services/{service.public_id}/balances/USD/review/")
    expect(page.get_by_role("heading", name="Review USD balance")).to_be_visible()
    expect(page.get_by_role("button", name="Accept provider value")).to_have_count(0)
    assert serious_violations(page) == []
