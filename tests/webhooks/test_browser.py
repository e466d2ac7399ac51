"""Webhooks in a real Chromium: an admin creates one and copies its secret, the delivery log
fills as events happen, Redeliver works; every page on a desktop and a 390 px phone (no
horizontal scrolling, no serious or critical axe-core violation)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe

from balances.actions.balance import balance_create
from core.actors import Actor
from tests.factories import ServiceFactory
from tests.provider_server import Reply
from tests.webhooks.receiver import verify
from webhooks.models import Webhook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def assert_fits_and_passes_axe(page, viewport: str) -> None:
    page.set_viewport_size(VIEWPORTS[viewport])
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1]:
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
            " > window.innerWidth).map(e => e.tagName + '.' + e.className).slice(0, 8)"
        )
        raise AssertionError((page.url, viewport, widths, wide))
    assert serious_violations(page) == [], (page.url, viewport)


def test_an_admin_creates_a_webhook_and_follows_its_deliveries(login_as, receiver):
    page = login_as("admin")
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_role("link", name="New webhook").click()
    page.wait_for_url("**/webhooks/add/")  # the new page loaded, not just committed
    for viewport in VIEWPORTS:
        assert_fits_and_passes_axe(page, viewport)
    page.get_by_label("URL").fill(receiver.url("/backoffice/events/with-a-rather-long-path"))
    page.get_by_label("balance.changed").check()
    page.get_by_label("Description").fill("Ledger service (staging)")
    page.get_by_role("button", name="Create webhook").click()
    secret = page.locator("#webhook-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    for viewport in VIEWPORTS:
        assert_fits_and_passes_axe(page, viewport)

    # Events happen: one delivered, one answered 500 (retried later).
    service = ServiceFactory(name="Berlin Marketplace GmbH & Co. KG International")
    balance_create(
        service=service, currency="EUR", amount=Decimal("12500.75"), actor=Actor.system()
    )
    receiver.reply(Reply({"error": "<b>maintenance</b> " + "x" * 400}, status=500), Reply({}))
    balance_create(
        service=service,
        currency="USDT_TRC20",
        amount=Decimal("92233720.12345678"),
        actor=Actor.system(),
    )
    assert len(receiver.requests) == 2
    verify(receiver.requests[0], secret)

    page.get_by_role("link", name="Go to the webhook").click()
    page.get_by_text("Attempt log (1)").first.wait_for()
    assert page.locator(".card.delivery").count() == 2
    assert "HTTP 500" in page.locator(".card.delivery").first.inner_text()
    page.get_by_text("Attempt log (1)").first.click()  # opens the log
    for viewport in VIEWPORTS:
        assert_fits_and_passes_axe(page, viewport)

    page.locator(".card.delivery").first.get_by_role("button", name="Redeliver").click()
    page.get_by_text("redelivered as").wait_for()
    assert page.locator(".card.delivery").count() == 3
    assert len(receiver.requests) == 3 and receiver.requests[2].body == receiver.requests[1].body


def test_a_disabled_webhook_says_why(login_as, receiver):
    page = login_as("admin")
    page.goto("/webhooks/add/")
    page.get_by_label("URL").fill("http://127.0.0.1:6379/")
    page.get_by_label("sync.failed").check()
    page.get_by_role("button", name="Create webhook").click()
    # The message shows twice: in the error summary and under the field it belongs to.
    page.locator("#id_url_error").get_by_text("loopback, private or reserved").wait_for()
    for viewport in VIEWPORTS:
        assert_fits_and_passes_axe(page, viewport)

    page.get_by_label("URL").fill(receiver.url())
    page.get_by_role("button", name="Create webhook").click()
    page.locator("#webhook-secret").wait_for()
    Webhook.objects.update(
        active=False,
        disabled_reason="every delivery attempt failed for 24 hours (since 2024-12-02 14:00 UTC); "
        "the last one: HTTP 503",
    )
    page.goto("/webhooks/")
    page.get_by_text("Disabled").first.wait_for()
    for viewport in VIEWPORTS:
        assert_fits_and_passes_axe(page, viewport)
    page.get_by_role("link", name=receiver.url()).click()
    page.get_by_text("Disabled: every delivery attempt failed for 24 hours").wait_for()
    for viewport in VIEWPORTS:
        assert_fits_and_passes_axe(page, viewport)
