"""Update balances in a real Chromium: the button starts a run against the built-in SyncPay
sandbox of the live server, and the cards refresh by themselves with the result."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from balances.actions import balance_create
from balances.connections.actions import connection_save
from balances.models import Balance, SyncRun
from balances.sandbox import DEMO_CONNECTIONS
from core.actors import Actor
from tests.factories import ServiceFactory, UserFactory
from tests.provider_server import SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED, ProviderServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _connected_service(base_url: str, credentials=None):
    admin = UserFactory(username="connector", role="admin")
    service = ServiceFactory(name="Lagos Retail")
    balance_create(
        service=service, currency="USD", amount=Decimal("1.00"), actor=Actor.for_user(admin)
    )
    connection_save(
        service=service,
        kind="syncpay",
        actor=Actor.for_user(admin),
        base_url=base_url,
        credentials=credentials or DEMO_CONNECTIONS["syncpay"]["credentials"],
        create_missing_balances=True,
    )
    return service


def test_update_balances_refreshes_the_cards_with_the_result(login_as, live_server):
    service = _connected_service(f"{live_server.url}/sandbox/syncpay")
    page = login_as("operator")
    page.goto(f"{live_server.url}/services/{service.public_id}/balances/")
    expect(page.locator("#balance-USD .balance-amount")).to_have_text("1.00")

    page.get_by_role("button", name="Update balances").click()

    status = page.locator("#sync-status")
    expect(status).to_contain_text("Balances updated from SyncPay", timeout=15000)
    usd = Balance.objects.get(service=service, currency="USD")
    shown = f"{usd.available:,.2f}"
    expect(page.locator("#balance-USD .balance-amount")).to_have_text(shown)
    # The sandbox reports currencies the service lacked; "create missing balances" is on.
    expect(page.locator("#balance-USDT_TRC20")).to_be_visible()
    expect(page.locator("#balance-USD")).to_contain_text("by SyncPay sync")
    run = SyncRun.objects.get(service=service)
    assert run.status == "succeeded" and run.requested_by.username.startswith("operator")

    page.get_by_role("link", name="Details").click()
    expect(page.get_by_role("heading", name=f"Sync run {run.public_id}")).to_be_visible()


def test_a_failed_update_is_explained_in_words(login_as, live_server, allow_listed):
    provider = ProviderServer()
    try:
        allow_listed(provider.url)
        provider.reply(SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED)
        service = _connected_service(provider.url, credentials={"apiKey": "sk_live_revoked123"})
        page = login_as("operator")
        page.goto(f"{live_server.url}/services/{service.public_id}/balances/")
        page.get_by_role("button", name="Update balances").click()
        status = page.locator("#sync-status")
        expect(status).to_contain_text("Update failed: Authentication failed", timeout=15000)
        expect(status).to_contain_text("Invalid API key (UNAUTHORIZED)")
        expect(page.locator("#balance-USD .balance-amount")).to_have_text("1.00")
        assert "sk_live_revoked123" not in page.content()
    finally:
        provider.close()
