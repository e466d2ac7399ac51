"""New payout and the fee calculator in a real browser: the htmx previews as one types."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payouts.models import Payout
from tests.factories import BalanceFactory, FeeProfileFactory, ServiceFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def service():
    profile = FeeProfileFactory(
        name="Standard",
        rules=[
            {"operation": "payout", "currency": "EUR", "percentage": "1.5", "fixed_amount": "0.25"}
        ],
    )
    service = ServiceFactory(name="Berlin Marketplace", country="DE", fee_profile=profile)
    BalanceFactory(service=service, currency="EUR", available=Decimal("1000.00"))
    return service


def test_an_operator_previews_then_confirms_a_payout(login_as, service):
    page = login_as("operator")
    page.goto(f"/services/{service.public_id}/payouts/")
    page.get_by_role("link", name="New payout").click()
    # Loaded (htmx listening to the form), and not the list's own currency filter.
    page.wait_for_url(f"**/services/{service.public_id}/payouts/add/")
    page.select_option("#id_currency", "EUR")
    page.fill("#id_destination", "IBAN FR76 3000")
    page.fill("#id_amount", "100.00")
    confirm = page.get_by_role("button", name="Confirm payout of 101.75 EUR")
    confirm.wait_for()  # the preview arrived without a page load
    assert "1.75" in page.locator("#payout-preview").inner_text()
    assert not Payout.objects.exists()
    confirm.click()
    page.get_by_text("Timeline").wait_for()
    payout = Payout.objects.get()
    assert (payout.amount, payout.fee, payout.status) == (
        Decimal("100.00"),
        Decimal("1.75"),
        "pending",
    )
    assert payout.public_id in page.url


def test_the_calculator_answers_as_one_types(login_as, service):
    page = login_as("viewer")
    page.goto("/fee-profiles/")
    page.get_by_role("link", name="Standard").first.click()
    page.wait_for_url("**/fee-profiles/*/")  # loaded: htmx listens to the calculator
    page.fill("#id_amount", "200.00")
    page.get_by_text("costs 3.25 EUR").wait_for()
