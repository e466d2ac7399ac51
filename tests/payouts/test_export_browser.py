"""Download CSV in a real Chromium: the file the browser saves holds exactly the rows the
page's filters select; the link is a proper touch target and the pages stay accessible."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe

from balances.models import SyncRun
from payouts.models import Payout
from tests.factories import BalanceFactory, FeeProfileFactory, PayoutFactory, ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def service():
    profile = FeeProfileFactory(
        name="Gulf pricing",
        rules=[
            {
                "operation": "payout",
                "currency": "KWD",
                "fixed_amount": "0.125",
                "minimum_payout_amount": "1",
            }
        ],
    )
    service = ServiceFactory(name="Kuwait Traders", country="KW", fee_profile=profile)
    BalanceFactory(service=service, currency="KWD", available=Decimal("5000.000"))
    return service


def downloaded_rows(page, link_name: str = "Download CSV") -> tuple[str, list[dict[str, str]]]:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).click()
    download = info.value
    with open(download.path(), encoding="utf-8", newline="") as handle:
        text = handle.read()
    return download.suggested_filename, list(csv.DictReader(io.StringIO(text, newline="")))


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_a_viewer_downloads_the_filtered_payouts(login_as, service):
    pending = PayoutFactory(service=service, currency="KWD", amount=Decimal("12.345"))
    PayoutFactory(service=service, currency="KWD", amount=Decimal("2.000"), status="canceled")
    page = login_as("viewer")
    page.set_viewport_size(PHONE)
    page.goto(f"/services/{service.public_id}/payouts/")
    page.select_option("#id_status", "pending")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**status=pending**")

    link = page.get_by_role("link", name="Download CSV")
    box = link.bounding_box()
    assert box is not None and box["height"] >= 44
    assert serious_violations(page) == []

    name, rows = downloaded_rows(page)
    assert name.startswith(f"payouts-{service.public_id}-") and name.endswith("Z.csv")
    assert len(rows) == 1
    row = rows[0]
    assert (row["payout_id"], row["status"], row["currency"]) == (
        pending.public_id,
        Payout.Status.PENDING,
        "KWD",
    )
    assert (row["amount"], row["fee"], row["total"]) == ("12.345", "0.125", "12.470")
    created = datetime.fromisoformat(row["created_at"])
    assert created.tzinfo == UTC and created == Payout.objects.get(pk=pending.pk).created_at


def test_an_operator_downloads_every_services_failed_sync_runs(login_as, service):
    failed = SyncRun.objects.create(
        service=service,
        provider_kind="wise",
        trigger="schedule",
        status="failed",
        error_category="auth",
        error_message="@credentials refused",
    )
    SyncRun.objects.create(
        service=service, provider_kind="wise", trigger="button", status="succeeded"
    )
    page = login_as("operator")
    page.goto("/sync-runs/")
    page.select_option("#id_status", "failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**status=failed**")
    name, rows = downloaded_rows(page)
    assert name.startswith("sync-runs-")
    assert [(r["run_id"], r["error_message"]) for r in rows] == [
        (failed.public_id, "'@credentials refused")
    ]


def test_a_services_sync_runs_download_on_a_phone(login_as, service):
    run = SyncRun.objects.create(
        service=service, provider_kind="payop", trigger="command", status="succeeded"
    )
    page = login_as("viewer")
    page.set_viewport_size(PHONE)
    page.goto(f"/services/{service.public_id}/sync-runs/")
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1]
    assert serious_violations(page) == []
    name, rows = downloaded_rows(page)
    assert name.startswith(f"sync-runs-{service.public_id}-")
    assert [(r["run_id"], r["provider"], r["trigger"]) for r in rows] == [
        (run.public_id, "payop", "command")
    ]
