"""The Content-Security-Policy in a real Chromium: the main pages, htmx swaps, the provider form's
script and the API docs run without a single violation or console message."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, BalanceFactory, ServiceFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Playwright's init scripts run outside the page's CSP, before any of its own scripts.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Watcher:
    """Console messages, page errors and CSP violations of one page, per URL."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"{page.url} error: {e}"))

    def _console(self, message) -> None:
        # Chromium's "verbose" level is its DOM lint (form advice and the like), not a fault.
        if message.type not in ("verbose", "debug"):
            self.problems.append(f"{self.page.url} console.{message.type}: {message.text}")

    def visit(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, (url, response and response.status)
        assert "Content-Security-Policy" in {k.title() for k in response.headers}, url
        self.page.wait_for_load_state("load")

    def check(self) -> None:
        violations = self.page.evaluate("window.__violations || []")
        self.problems.extend(f"{self.page.url} CSP: {v}" for v in violations)
        assert self.problems == []


@pytest.fixture
def service():
    service = ServiceFactory(name="Policy Payments", country="DE")
    BalanceFactory(service=service, currency="EUR", available=Decimal("1000.00"))
    BalanceFactory(service=service, currency="JPY", available=Decimal("5000"))
    return service


def test_the_main_pages_run_without_csp_violations(login_as, service):
    page = login_as("admin")
    watch = Watcher(page)
    s = service.public_id

    for url in [
        "/",
        "/balances/?currency=EUR",
        "/sync-runs/",
        "/payouts/",
        "/services/",
        f"/services/{s}/balances/",
        f"/services/{s}/sync-runs/",
        f"/services/{s}/payouts/",
        "/fee-profiles/",
        "/account/api-keys/",
    ]:
        watch.visit(url)
        watch.check()

    # Service details, with the provider form whose fields follow the chosen provider
    # (static/js/app.js, no inline script).
    watch.visit(f"/services/{s}/")
    form = page.locator("#provider-form")
    if form.count():
        kind = page.locator("#id_kind")
        choices = [
            o for o in kind.locator("option").evaluate_all("os => os.map(o => o.value)") if o
        ]
        kind.select_option(choices[-1])
        visible = page.locator(".provider-fields:visible")
        expect(visible).to_have_count(1)
        assert visible.get_attribute("data-kind") == choices[-1]
    watch.check()

    # A payout page with its htmx preview (a swap under the policy).
    watch.visit(f"/services/{s}/payouts/add/")
    page.select_option("#id_currency", "EUR")
    page.fill("#id_destination", "IBAN FR76 3000")
    page.fill("#id_amount", "100.00")
    page.locator("#payout-preview .payout-preview").wait_for()
    page.get_by_role("button", name="Confirm payout").click()
    page.get_by_text("Timeline").wait_for()
    watch.check()

    # The balances page's "Update balances" (htmx post, then polling) when it is offered.
    watch.visit(f"/services/{s}/balances/")
    watch.check()


def test_the_api_docs_run_under_the_policy(login_as):
    page = login_as("viewer")
    watch = Watcher(page)

    watch.visit("/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Back-office API")
    expect(page.locator(".opblock").first).to_be_visible()
    watch.check()


def test_the_pages_before_login_run_without_csp_violations(page, transactional_db):
    watch = Watcher(page)
    for url in ["/accounts/login/", "/accounts/password_reset/", "/admin/login/"]:
        watch.visit(url)
        watch.check()


def test_the_admin_runs_without_csp_violations(page, transactional_db):
    user = UserFactory(username="root-browser", is_superuser=True, is_staff=True)
    watch = Watcher(page)
    watch.visit("/admin/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")
    for url in ["/admin/", "/admin/axes/accessattempt/", "/admin/auth/user/"]:
        watch.visit(url)
        watch.check()


def test_the_lockout_page_shows_its_message_in_the_browser(page, transactional_db):
    user = UserFactory(username="locked-browser", role="viewer")
    watch = Watcher(page)
    watch.visit("/accounts/login/")
    for _ in range(10):
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill("wrong password")
        # The same URL answers each attempt: wait for that answer's page, not the URL.
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_contain_text("Too many failed login attempts")
    expect(page.get_by_label("Password")).to_be_visible()
    # The 429 answers themselves are reported by Chromium as failed loads; nothing else.
    watch.problems = [p for p in watch.problems if "status of 429" not in p]
    watch.check()
