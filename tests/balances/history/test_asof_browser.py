"""In a real Chromium: the balances page's "as of" picker shows the cards of a moment,
read-only and marked, on a desktop and a 390 px phone, without serious axe-core
violations; the balances across services download as CSV."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import expect

from balances.actions import balance_create, balance_delete, balance_update
from core.actors import Actor
from tests.balances.history.conftest import Clock
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def assert_fits_and_passes_axe(page) -> None:
    for size in VIEWPORTS.values():
        page.set_viewport_size(size)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], (page.url, size, widths)
        violations = [
            f"{v['id']} ({v['impact']}): {v['help']}"
            for v in Axe().run(page).response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert violations == [], (page.url, size)


def read_download(download) -> list[list[str]]:
    with open(download.path(), encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


@pytest.fixture
def history(monkeypatch):
    """EUR created at 09:00 UTC on 20 Nov 2026 and raised at 10:00; KWD created at 09:30 and
    deleted at 11:00; then the clock is real again for the live server."""
    service = ServiceFactory(name="Kuwait Exchange Holdings International", country="KW")
    actor = Actor.system("night batch")
    clock = Clock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    with monkeypatch.context() as patched:
        patched.setattr(timezone, "now", clock)
        balance_create(service=service, currency="EUR", amount="1000.00", actor=actor)
        clock.advance(minutes=30)
        balance_create(service=service, currency="KWD", amount="1234.567", actor=actor)
        clock.advance(minutes=30)
        balance_update(
            service=service,
            currency="EUR",
            amount="2500.50",
            expected_version=None,
            actor=actor,
            reason="Top-up",
        )
        clock.advance(hours=1)
        balance_delete(service=service, currency="KWD", actor=actor)
    return service


def test_the_as_of_picker_shows_the_cards_of_a_moment_read_only(login_as, history):
    page = login_as("operator")
    page.goto(f"/services/{history.public_id}/balances/")
    expect(page.locator("#balance-KWD")).to_have_count(0)  # deleted since
    page.get_by_label("As of (UTC)").fill("2026-11-20T09:45")
    page.get_by_role("button", name="Show balances then").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Balances as of 20 Nov 2026 09:45 UTC"
    )
    expect(page.get_by_role("status")).to_contain_text(
        "Balances as of 20 Nov 2026 09:45 UTC — read-only"
    )
    expect(page.locator("#balance-EUR .balance-amount")).to_have_text("1,000.00")
    expect(page.locator("#balance-KWD .balance-amount")).to_have_text("1,234.567")
    for name in ("Edit", "Delete", "New balance", "Update balances", "Payouts"):
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect(page.get_by_label("As of (UTC)")).to_have_value("2026-11-20T09:45")
    assert_fits_and_passes_axe(page)

    # A later moment: EUR raised, KWD still there; then back to now.
    page.get_by_label("As of (UTC)").fill("2026-11-20T10:59:59")
    page.get_by_role("button", name="Show balances then").click()
    expect(page.locator("#balance-EUR .balance-amount")).to_have_text("2,500.50")
    expect(page.locator("#balance-KWD")).to_have_count(1)
    page.get_by_role("link", name="Back to now").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Balances")
    expect(page.locator("#balance-KWD")).to_have_count(0)
    expect(page.locator("#balance-EUR").get_by_role("link", name="Edit")).to_be_visible()


def test_a_moment_in_the_future_is_explained_next_to_the_field(login_as, history):
    page = login_as("viewer")
    page.goto(f"/services/{history.public_id}/balances/")
    page.get_by_label("As of (UTC)").fill("2099-01-01T00:00")
    page.get_by_role("button", name="Show balances then").click()
    field = page.get_by_label("As of (UTC)")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_as_of_error")).to_contain_text("in the future")
    assert "id_as_of_error" in (field.get_attribute("aria-describedby") or "")
    assert_fits_and_passes_axe(page)


def test_balances_across_services_download_as_csv(login_as, history):
    page = login_as("viewer")
    page.goto("/balances/?currency=EUR")
    assert_fits_and_passes_axe(page)
    with page.expect_download() as now:
        page.get_by_role("link", name="Download CSV").click()
    rows = read_download(now.value)
    assert rows[0][:4] == ["service_id", "service_name", "currency", "available"]
    assert [r[1:4] for r in rows[1:]] == [
        ["Kuwait Exchange Holdings International", "EUR", "2500.50"]
    ]

    page.get_by_label("As of (UTC)").fill("2026-11-20T09:45")
    with page.expect_download() as then:
        page.get_by_role("button", name="Download CSV as of then").click()
    rows = read_download(then.value)
    assert [r[2:7] for r in rows[1:]] == [["EUR", "1000.00", "0.00", "0.00", ""]]
