"""The balance history's filters and CSV download, and the audit log, in a real Chromium:
on a desktop and a 390 px phone (no horizontal scrolling, no serious or critical axe-core
violation)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from balances import actions
from core.actors import Actor
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def assert_fits_and_passes_axe(page) -> None:
    for size in VIEWPORTS.values():
        page.set_viewport_size(size)
        width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner, (page.url, size)
        violations = [
            f"{v['id']} ({v['impact']}): {v['help']}"
            for v in Axe().run(page).response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert violations == [], (page.url, size)


def history_of(user) -> object:
    """A service with a KWD balance changed by a person and by the system."""
    service = ServiceFactory(name="Kuwait Trading Company for International Commerce W.L.L.")
    person, system = Actor.for_user(user, via="session"), Actor.system()
    actions.balance_create(service=service, currency="KWD", amount="15000.125", actor=system)
    actions.balance_update(
        service=service,
        currency="KWD",
        amount="14990.125",
        expected_version=None,
        actor=person,
        reason="=Manual correction",
    )
    actions.balance_update(
        service=service,
        currency="KWD",
        amount="14000.5",
        expected_version=None,
        actor=system,
        reason="Nightly import",
    )
    return service


def test_history_filters_and_csv_download(login_as):
    page = login_as("operator")
    service = history_of(page.user)
    page.goto(f"/services/{service.public_id}/balances/KWD/history/")
    assert page.locator("table.history tbody tr").count() == 3
    assert_fits_and_passes_axe(page)

    page.get_by_label("Who").select_option("person")
    page.get_by_label("Reason").fill("correction")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**actorKind=person**")
    rows = page.locator("table.history tbody tr")
    assert rows.count() == 1
    assert "\u221210.000" in rows.first.inner_text()  # the change column
    assert_fits_and_passes_axe(page)

    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    lines = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert [(r["new_available"], r["change_available"], r["reason"]) for r in lines] == [
        ("14990.125", "-10.000", "'=Manual correction")
    ]

    page.get_by_label("From").fill("not a date")
    page.get_by_role("button", name="Filter").click()
    error = page.locator("#id_from_error")
    assert "Enter a date" in error.inner_text()
    assert "id_from_error" in page.get_by_label("From").get_attribute("aria-describedby")
    assert_fits_and_passes_axe(page)


def test_admin_reads_and_filters_the_audit_log(login_as):
    page = login_as("admin")
    service = history_of(page.user)
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url("**/audit/")
    assert page.locator("table.audit-log tbody tr").count() >= 1
    assert_fits_and_passes_axe(page)

    page.get_by_label("Object type").select_option("balance")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**objectType=balance**")
    row = page.locator("table.audit-log tbody tr")
    assert row.count() == 1
    text = row.first.inner_text()
    assert "Balance updated" in text and "=Manual correction" in text
    assert "Available changed from 15000.125 to 14990.125" in text
    assert f"{service.public_id}:KWD" in text
    assert_fits_and_passes_axe(page)
