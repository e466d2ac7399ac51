"""The Balances section in a real Chromium, against the live server: an operator logs in,
goes Services → Balances, and creates, edits and deletes a balance through the cards."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from balances.models import Balance, BalanceChange
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_balances_from_services(page, service_name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Services").click()
    expect(page.get_by_role("heading", name="Services", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text=service_name)
    row.get_by_role("link", name="Balances", exact=True).click()
    expect(page.get_by_role("heading", name="Balances", level=1)).to_be_visible()


def test_operator_creates_edits_and_deletes_a_balance_through_the_cards(login_as):
    service = ServiceFactory(name="Kuwait Exchange", country="KW")
    ServiceFactory(name="Some Other Service")
    page = login_as("operator")

    open_balances_from_services(page, "Kuwait Exchange")
    assert page.url.endswith(f"/services/{service.public_id}/balances/")
    expect(page.get_by_text("No balances yet")).to_be_visible()

    # New balance
    page.get_by_role("link", name="New balance").click()
    page.get_by_label("Currency").select_option("KWD")
    page.get_by_label("Opening amount").fill("1234.567")
    page.get_by_role("button", name="Save").click()

    card = page.locator("#balance-KWD")
    expect(page.locator(".messages")).to_contain_text("KWD balance created with 1,234.567.")
    expect(card.locator(".balance-amount")).to_have_text("1,234.567")
    expect(card).to_contain_text("Kuwaiti Dinar")
    expect(card).to_contain_text("by operator-browser")

    # Edit: amount and reason
    card.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit KWD balance")).to_be_visible()
    page.get_by_role("textbox", name="Balance", exact=True).fill("-2,000.5")
    page.get_by_role("textbox", name="Reason").fill("Correction after audit")
    page.get_by_role("button", name="Save").click()

    expect(page.locator(".messages")).to_contain_text("KWD balance set to \u22122,000.500.")
    expect(card.locator(".balance-amount")).to_have_text("\u22122,000.500")
    expect(card).to_have_class("balance-card is-negative")

    # Delete through the confirmation page
    card.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete balance")).to_be_visible()
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("Kuwait Exchange")
    expect(facts).to_contain_text("KWD — Kuwaiti Dinar")
    expect(facts).to_contain_text("\u22122,000.500 KWD")
    page.get_by_role("button", name="Confirm delete").click()

    expect(page.locator(".messages")).to_contain_text("KWD balance deleted.")
    expect(page.locator("#balance-KWD")).to_have_count(0)
    expect(page.get_by_text("No balances yet")).to_be_visible()

    assert not Balance.objects.filter(service=service).exists()
    kinds = list(
        BalanceChange.objects.filter(service=service).order_by("id").values_list("kind", "reason")
    )
    assert kinds == [
        ("created", "Opening amount"),
        ("updated", "Correction after audit"),
        ("deleted", ""),
    ]


def test_a_stale_edit_in_the_browser_shows_the_current_value(login_as):
    service = ServiceFactory(name="Race Ltd")
    balance = BalanceFactory(service=service, currency="EUR", available=Decimal("100.00"))
    page = login_as("operator")
    page.goto(f"/services/{service.public_id}/balances/EUR/edit/")

    # Someone else saves while the form is open.
    Balance.objects.filter(pk=balance.pk).update(
        available=Decimal("200.00"), version=2, updated_by_label="colleague"
    )
    page.get_by_role("textbox", name="Balance", exact=True).fill("150")
    page.get_by_role("textbox", name="Reason").fill("mine")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("alert")).to_contain_text("it is now 200.00 EUR")
    expect(page.get_by_text("Current balance:")).to_contain_text("200.00")
    balance.refresh_from_db()
    assert balance.available == Decimal("200.00")


def test_a_viewer_sees_no_new_balance_edit_or_delete_buttons(login_as):
    service = ServiceFactory(name="Berlin Marketplace")
    BalanceFactory(service=service, currency="EUR", available=Decimal("12500.75"))
    page = login_as("viewer")

    open_balances_from_services(page, "Berlin Marketplace")

    card = page.locator("#balance-EUR")
    expect(card.locator(".balance-amount")).to_have_text("12,500.75")
    expect(page.get_by_role("link", name="New balance")).to_have_count(0)
    expect(card.get_by_role("link", name="Edit")).to_have_count(0)
    expect(card.get_by_role("link", name="Delete")).to_have_count(0)
    expect(card.get_by_role("link", name="History")).to_be_visible()

    # Typing the address does not help either.
    page.goto(f"/services/{service.public_id}/balances/add/")
    expect(page.get_by_role("heading", name="You may not do this")).to_be_visible()
