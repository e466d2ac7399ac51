"""Every main page, for each role, on a desktop (1280 x 800) and a phone (390 x 844), in a real
Chromium: nothing wider than the viewport and no table scrolling sideways, buttons
at least 44 px tall, amounts never broken across lines, no serious or critical axe-core
violation, no console error or failed request (a missing favicon included), and the status each
role should get (200, or 403 where the role may not look).  Anonymous visitors get the sign-in
pages and are sent there from every other page.

Speed: one browser; the data built once for the module behind a live server of the module's
own (committed rows, wiped at the end as a transactional test would); one sign-in per role
whose cookies every viewport reuses; one audit per distinct page and viewport.  Screenshots of
each page (desktop and phone, as an admin) go to ``SCREENSHOT_DIR`` (default
``artifacts/screenshots`` at the top of the project)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser_fixtures import TIMEOUT_MS
from tests.factories import PASSWORD

# The rows are committed once by the module's fixture (``site``); each test only reads them,
# inside the rolled-back transaction of a plain ``django_db`` test, so no table is emptied
# between the tests of the matrix.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
ROLES = ("viewer", "operator", "admin", "approver")
SCREENSHOT_ROLE = "admin"
SCREENSHOT_DIR = Path(
    os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "artifacts/screenshots")
)
# A made-up receiver: listed for the build only, never called (nothing is delivered).
RECEIVER = "127.0.0.1:9"
LONG_URL = (
    f"http://{RECEIVER}/back-office/receivers/balances-and-payouts/"
    "endpoint-with-a-rather-long-path?account=acct_0123456789abcdefghij"
)
PROVIDER_URL = f"http://{RECEIVER}/provider-gateway/v3/merchant-accounts/acct_0123456789abcdefghij"

# Who may open a page: everyone signed in, those who operate, admins, approvers.
ALL = frozenset(ROLES)
OPERATE = frozenset({"operator", "admin"})
ADMIN = frozenset({"admin"})
APPROVE = frozenset({"admin", "approver"})


@dataclass(frozen=True)
class Screen:
    name: str
    path: str  # formatted with the world's ids
    roles: frozenset[str]


SCREENS = [
    Screen("overview", "/", ALL),
    Screen("balances-across", "/balances/?currency=EUR", ALL),
    Screen("sync-runs-across", "/sync-runs/", ALL),
    Screen("payouts-waiting", "/payouts/", ALL),
    Screen("services", "/services/", ALL),
    Screen("service", "/services/{s}/", ALL),
    Screen("service-history", "/services/{s}/history/", ALL),
    Screen("balances", "/services/{s}/balances/", ALL),
    Screen("balance-charts", "/services/{s}/balances/charts/", ALL),
    Screen("balances-as-of", "/services/{s}/balances/?as_of={as_of}", ALL),
    Screen("balances-history", "/services/{s}/balances/history/", ALL),
    Screen("balance-history", "/services/{s}/balances/EUR/history/", ALL),
    Screen("balance-review", "/services/{s}/balances/{review_currency}/review/", ALL),
    Screen("balance-add", "/services/{s}/balances/add/", OPERATE),
    Screen("balance-edit", "/services/{s}/balances/EUR/edit/", OPERATE),
    Screen("balance-delete", "/services/{s}/balances/JPY/delete/", OPERATE),
    Screen("sync-runs", "/services/{s}/sync-runs/", ALL),
    Screen("sync-run", "/services/{s}/sync-runs/{run}/", ALL),
    Screen("payouts", "/services/{s}/payouts/", ALL),
    Screen("payout", "/services/{s}/payouts/{payout}/", ALL),
    Screen("payout-add", "/services/{s}/payouts/add/", OPERATE),
    Screen("service-add", "/services/add/", ADMIN),
    Screen("service-edit", "/services/{s}/edit/", ADMIN),
    Screen("service-delete", "/services/{s}/delete/", ADMIN),
    Screen("provider", "/services/{s}/provider/", ADMIN),
    Screen("fee-profiles", "/fee-profiles/", ALL),
    Screen("fee-profile", "/fee-profiles/{profile}/", ALL),
    Screen(
        "fee-calculator",
        "/fee-profiles/{profile}/?operation=payout&amount=1234.56&currency=EUR",
        ALL,
    ),
    Screen("fee-profile-history", "/fee-profiles/{profile}/history/", ALL),
    Screen("fee-profile-add", "/fee-profiles/add/", ADMIN),
    Screen("fee-profile-edit", "/fee-profiles/{profile}/edit/", ADMIN),
    Screen("fee-profile-delete", "/fee-profiles/{profile}/delete/", ADMIN),
    Screen("fee-rule-add", "/fee-profiles/{profile}/rules/add/", ADMIN),
    Screen("fee-rule-edit", "/fee-profiles/{profile}/rules/{rule}/edit/", ADMIN),
    Screen("fee-profile-of-service", "/fee-profiles/assign/{s}/", ADMIN),
    Screen("alerts", "/alerts/", ALL),
    Screen("alert", "/alerts/{alert}/", ALL),
    Screen("alert-rules", "/alert-rules/", ALL),
    Screen("alert-rule-add", "/alert-rules/add/", ADMIN),
    Screen("alert-rule-edit", "/alert-rules/{alert_rule}/edit/", ADMIN),
    Screen("webhooks", "/webhooks/", ADMIN),
    Screen("webhook", "/webhooks/{webhook}/", ADMIN),
    Screen("webhook-add", "/webhooks/add/", ADMIN),
    Screen("webhook-edit", "/webhooks/{webhook}/edit/", ADMIN),
    Screen("approvals", "/approvals/", ALL),
    Screen("approval", "/approvals/{approval}/", ALL),
    Screen("approval-policies", "/approvals/policies/", ADMIN),
    Screen("approval-policy", "/approvals/policies/EUR/", ADMIN),
    Screen("audit-log", "/audit/", ADMIN),
    Screen("api-keys", "/account/api-keys/", ALL),
    Screen("password-change", "/accounts/password_change/", ALL),
]
# Before signing in.
PUBLIC_SCREENS = [
    Screen("login", "/accounts/login/", frozenset()),
    Screen("password-reset", "/accounts/password_reset/", frozenset()),
]

# No page may scroll sideways, nor any table inside it (a hidden column is a lost one).
WIDE_ELEMENTS = """() => {
  const w = window.innerWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > w + 0.5)
    .map(e => e.tagName.toLowerCase() + (e.className && e.className.baseVal === undefined
      ? '.' + String(e.className).trim().split(/\\s+/).join('.') : ''));
  const scrolling = [...document.querySelectorAll('.table-wrap, table')]
    .filter(e => e.checkVisibility() && e.scrollWidth > e.clientWidth + 1)
    .map(e => `scrolls sideways (${e.scrollWidth} px in ${e.clientWidth}): ` +
      (e.querySelector('caption') || e).textContent.trim().slice(0, 50));
  return {scroll: document.documentElement.scrollWidth, inner: w,
          wide: wide.slice(0, 6), scrolling: scrolling};
}"""
# Amounts (figures in tables, on cards, before/after) on one line: never broken inside a number.
BROKEN_AMOUNTS = """() => [...document.querySelectorAll(
    'td.num, th.num, .balance-amount, .balance-figures dd, .before-after dd')]
  .filter(e => e.offsetParent !== null && /\\d/.test(e.textContent))
  .filter(e => {
    const range = document.createRange();
    range.selectNodeContents(e);
    const rects = [...range.getClientRects()].filter(r => r.width > 0);
    // A second line starts below the first one's bottom; parts of one line overlap.
    return rects.some(r => r.top >= rects[0].bottom - 1);
  })
  .map(e => e.textContent.trim().slice(0, 40))"""
# Buttons and links styled as buttons, visible, shorter than 44 px.
SMALL_TARGETS = """() => [...document.querySelectorAll(
    'button, .btn, input[type=submit], input[type=button]')]
  .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 43.5)
  .map(e => `${e.tagName.toLowerCase()} "${(e.innerText || e.value || '').trim().slice(0, 30)}"`
            + ` ${Math.round(e.getBoundingClientRect().height)}px`)"""


# The page as axe sees it, less what differs between two renderings of the same page (the CSRF
# token, the nonces, who is signed in): two roles that get the same page share one audit.
FINGERPRINT = """() => {
  const copy = document.documentElement.cloneNode(true);
  copy.querySelectorAll('input[name=csrfmiddlewaretoken]').forEach(e => e.removeAttribute('value'));
  copy.querySelectorAll('[nonce]').forEach(e => e.removeAttribute('nonce'));
  copy.querySelectorAll('[hx-headers]').forEach(e => e.removeAttribute('hx-headers'));
  copy.querySelectorAll('.topbar-user strong').forEach(e => e.textContent = '');
  return copy.outerHTML;
}"""


@dataclass
class Site:
    url: str
    ids: dict[str, str]
    cookies: dict[str, dict] = field(default_factory=dict)  # storage state per role
    audits: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (viewport, page)


def build_world() -> dict[str, str]:
    """One service with something of every kind, long names and 8-decimal amounts (a phone's
    worst case), and a second, plain one."""
    from alerts.models import AlertRule
    from approvals.actions import policy_set
    from balances import actions as balance_actions
    from balances.models import Balance, BalanceReview, SyncRun
    from core.actors import Actor
    from services.accounts.actions import api_key_create
    from services.fees.actions import service_fee_profile_set
    from tests.alerts.overview.conftest import make_alert
    from tests.factories import (
        BalanceFactory,
        FeeProfileFactory,
        FeeRuleFactory,
        PayoutFactory,
        ProviderConnectionFactory,
        ServiceFactory,
        UserFactory,
    )
    from webhooks.actions import webhook_create
    from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent

    users = {role: UserFactory(username=f"{role}-pages", role=role) for role in ROLES}
    operator = Actor.for_user(users["operator"])
    system = Actor.system("tests")

    service = ServiceFactory(name="Berlin Marketplace GmbH & Co. KG International", country="DE")
    ServiceFactory(name="Lagos Payments", country="NG")
    BalanceFactory(service=service, currency="EUR", available=Decimal("12500.75"))
    BalanceFactory(service=service, currency="JPY", available=Decimal("5000"))
    BalanceFactory(service=service, currency="KWD", available=Decimal("1.234"))
    BalanceFactory(service=service, currency="USDT_TRC20", available=Decimal("-92233720.12345678"))
    with override_settings(
        PROVIDER_BASE_URL_ALLOWLIST=[RECEIVER], WEBHOOK_URL_ALLOWLIST=[RECEIVER]
    ):
        ProviderConnectionFactory(service=service, kind="wise", base_url=PROVIDER_URL)
        webhook, _secret = webhook_create(
            url=LONG_URL, events=["balance.changed"], actor=system, description="Ledger"
        )
    profile = FeeProfileFactory(
        name="Marketplace payouts with a rather long profile name",
        description="Payout fees for marketplaces in the euro area.",
    )
    rule = FeeRuleFactory(profile=profile, currency="EUR", percentage="1.5", fixed_amount="0.30")
    FeeRuleFactory(profile=profile, currency="", percentage="2", minimum_fee="0.50")
    service_fee_profile_set(service=service, profile=profile, actor=system)

    now = timezone.now()
    run = SyncRun.objects.create(
        service=service,
        provider_kind="wise",
        trigger=SyncRun.Trigger.SCHEDULE,
        status=SyncRun.Status.FAILED,
        started_at=now - timedelta(minutes=5),
        finished_at=now - timedelta(minutes=5),
        error_category="timeout",
        error_message="The provider did not answer within 10 seconds.",
    )
    payout = PayoutFactory(service=service, currency="EUR", amount=Decimal("100.00"))
    PayoutFactory(service=service, currency="EUR", amount=Decimal("200.00"), status="processing")
    PayoutFactory(service=service, currency="EUR", amount=Decimal("50.00"), status="paid")
    alert = make_alert(service, "EUR", AlertRule.Kind.AVAILABLE_BELOW, threshold="20000.00")

    kwd = Balance.objects.get(service=service, currency="KWD")
    BalanceReview.objects.create(
        balance=kwd,
        service=service,
        currency="KWD",
        manual_available=kwd.available,
        manual_version=kwd.version,
        manual_set_at=now - timedelta(hours=1),
        manual_set_by_label="operator-pages",
        provider_available=Decimal("1.500"),
        sync_run=run,
    )
    policy_set(
        currency="EUR",
        manual_change_above="1000.00",
        payout_above=None,
        nonzero_deletion=False,
        actor=system,
    )
    approval = balance_actions.balance_update_or_request(
        service=service,
        currency="EUR",
        amount="15000.12",
        expected_version=None,
        actor=operator,
        reason="Provider statement of the month",
    )

    event = WebhookEvent.objects.create(type="balance.changed", body=b'{"type": "balance.changed"}')
    delivery = WebhookDelivery.objects.create(
        webhook=webhook,
        event=event,
        status=WebhookDelivery.Status.FAILED,
        attempts=1,
        next_attempt_at=None,
        last_status_code=500,
        last_response='{"error": "internal server error on the receiving side"}',
    )
    WebhookAttempt.objects.create(
        delivery=delivery, number=1, outcome=WebhookAttempt.Outcome.FAILED, status_code=500
    )
    for user in users.values():
        api_key_create(user=user, name="Reporting script")

    return {
        "s": service.public_id,
        "as_of": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
        "review_currency": "KWD",
        "run": run.public_id,
        "payout": payout.public_id,
        "profile": str(profile.pk),
        "rule": str(rule.pk),
        "alert": alert.public_id,
        "alert_rule": str(alert.rule.public_id),
        "webhook": webhook.public_id,
        "approval": approval.public_id,
    }


def sign_in(browser, url: str, role: str) -> dict:
    """Sign in through the form once; the cookies serve every viewport of the role."""
    context = browser.new_context(base_url=url, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(f"{role}-pages")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda u: urlsplit(u).path == "/")
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, browser) -> Iterator[Site]:
    """The world, committed, behind a live server of the module's own; wiped at the end."""
    from pytest_django.live_server_helper import LiveServer

    with django_db_blocker.unblock():
        try:
            ids = build_world()
            server = LiveServer("localhost:0")
            try:
                site = Site(url=server.url, ids=ids)
                for role in ROLES:
                    site.cookies[role] = sign_in(browser, server.url, role)
                yield site
            finally:
                server.stop()
        finally:
            # What a transactional test does afterwards: empty every table (the roles'
            # groups come back with post_migrate).
            call_command("flush", verbosity=0, interactive=False)


class Visit:
    """One context (role and viewport): collects what goes wrong on each page."""

    def __init__(self, browser, site: Site, role: str | None, viewport: str) -> None:
        self.site = site
        self.viewport = viewport
        self.context = browser.new_context(
            base_url=site.url,
            locale="en-US",
            viewport=VIEWPORTS[viewport],
            storage_state=site.cookies.get(role or ""),
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.noise: list[str] = []
        self.console: list[tuple[str, str]] = []  # (message, the URL it is about)
        self.status = 0
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.noise.append(f"page error: {e}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def _console(self, message) -> None:
        # "verbose"/"debug" is Chromium's DOM lint (form advice), not a fault.
        if message.type not in ("verbose", "debug"):
            self.console.append(
                (f"console.{message.type}: {message.text}", message.location["url"])
            )

    def _failed(self, request) -> None:
        # A load the next navigation cancels is the test moving on, not the page failing.
        if request.failure != "net::ERR_ABORTED":
            self.noise.append(f"failed: {request.url} ({request.failure})")

    def _response(self, response) -> None:
        if response.request.resource_type == "document":
            return
        if response.status >= 400:
            self.noise.append(f"{response.status} for {response.url}")

    def open(self, path: str) -> int:
        """Go to ``path``; its status."""
        self.noise, self.console = [], []
        response = self.page.goto(path)  # returns once the page has loaded
        self.status = response.status if response else 0
        # A part the page loads after its load event (the balances page's charts) is in
        # place before anything is measured or audited.
        expect(self.page.locator("[aria-busy=true]")).to_have_count(0)
        return self.status

    def problems(self) -> list[str]:
        """What is wrong with the page open now.  The one console line a refused page causes
        itself ("Failed to load resource: ... 403") is the answer the test expects."""
        found = list(self.noise)
        found += [
            text
            for text, url in self.console
            if not (
                self.status >= 400 and url == self.page.url and f"status of {self.status}" in text
            )
        ]
        sizes = self.page.evaluate(WIDE_ELEMENTS)
        if sizes["scroll"] > sizes["inner"]:
            found.append(f"{sizes['scroll']} px wide > {sizes['inner']}: {sizes['wide']}")
        found += sizes["scrolling"]
        found += [f"under 44 px: {t}" for t in self.page.evaluate(SMALL_TARGETS)]
        found += [f"amount broken across lines: {t}" for t in self.page.evaluate(BROKEN_AMOUNTS)]
        return found + self.audit()

    def audit(self) -> list[str]:
        """axe-core's serious and critical violations (once per distinct page and viewport)."""
        key = (self.viewport, hashlib.sha256(self.page.evaluate(FINGERPRINT).encode()).hexdigest())
        if key not in self.site.audits:
            violations = Axe().run(self.page).response["violations"]
            self.site.audits[key] = [
                f"axe {v['id']} ({v['impact']}): {v['help']} {[n['target'] for n in v['nodes']][:3]}"
                for v in violations
                if v["impact"] in ("serious", "critical")
            ]
        return self.site.audits[key]

    def status_of(self, path: str) -> int:
        """The status of ``path`` for this context's user, without rendering it."""
        return self.context.request.get(path, max_redirects=0).status

    def screenshot(self, name: str) -> None:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOT_DIR / f"{name}-{self.viewport}.png", full_page=True)

    def close(self) -> None:
        self.context.close()


def render(report: dict[str, list[str]]) -> str:
    return "\n" + "\n".join(f"{page}:\n  " + "\n  ".join(found) for page, found in report.items())


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_passes_axe_and_logs_nothing(browser, site, role, viewport):
    visit = Visit(browser, site, role, viewport)
    report: dict[str, list[str]] = {}
    refused_page_checked = False
    try:
        for screen in SCREENS:
            path = screen.path.format(**site.ids)
            expected = 200 if role in screen.roles else 403
            # Every refusal is the same 403 page: rendered and checked once per context.
            if expected == 403 and refused_page_checked:
                status = visit.status_of(path)
            else:
                status = visit.open(path)
                found = visit.problems()
                if found:
                    report[f"{screen.name} {path}"] = found
                refused_page_checked = refused_page_checked or expected == 403
            if status != expected:
                report.setdefault(f"{screen.name} {path}", []).insert(
                    0, f"status {status}, expected {expected}"
                )
            if role == SCREENSHOT_ROLE and status == 200:
                visit.screenshot(screen.name)
    finally:
        visit.close()
    assert not report, render(report)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_before_signing_in_only_the_sign_in_pages_open(browser, site, viewport):
    visit = Visit(browser, site, None, viewport)
    report: dict[str, list[str]] = {}
    try:
        for screen in PUBLIC_SCREENS:
            status = visit.open(screen.path)
            found = visit.problems()
            if status != 200:
                found.insert(0, f"status {status}, expected 200")
            if found:
                report[screen.name] = found
            visit.screenshot(screen.name)
        for screen in SCREENS:
            path = screen.path.format(**site.ids)
            answer = visit.context.request.get(path, max_redirects=0)
            target = urlsplit(answer.headers.get("location", ""))
            if answer.status != 302 or target.path != "/accounts/login/":
                report[screen.name] = [f"{path} answered {answer.status} {target.path}"]
    finally:
        visit.close()
    assert not report, render(report)
