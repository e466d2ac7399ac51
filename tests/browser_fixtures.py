"""Playwright fixtures: Debian's Chromium driven against pytest-django's ``live_server``.

Registered from the root conftest (``pytest_plugins``).  Browsers are never downloaded: the
tests use the system Chromium (``CHROMIUM_PATH``, default ``/usr/bin/chromium``), which
``make test`` installs with apt-get when it can and otherwise reports as missing.

Usage::

    @pytest.mark.browser
    @pytest.mark.django_db(transaction=True)
    def test_something(login_as):
        page = login_as("operator")          # a fresh context, logged in through the form
        page.get_by_role("link", name="Services").click()

    # or, with the role chosen by the ``browser_role`` fixture (default "operator"):
    def test_other(logged_in_page): ...
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def _playwright() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on the main thread for as long as it runs
    # (to the end of the session); Django would then refuse every later ORM call, in browser
    # tests and in the tests that follow them, as "async".  All of them are synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            yield playwright
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser(_playwright):
    """One headless Chromium for the whole session."""
    if not os.access(CHROMIUM_PATH, os.X_OK):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM_PATH}: install Debian's 'chromium' package "
            "or set CHROMIUM_PATH (browser tests are never skipped)."
        )
    browser = _playwright.chromium.launch(
        executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def new_page(browser, live_server) -> Iterator[Callable[[], object]]:
    """Factory of fresh pages (own cookies) whose relative URLs go to the live server."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live_server.url, locale="en-US")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    """A fresh page, not logged in."""
    return new_page()


@pytest.fixture
def login_as(new_page, transactional_db) -> Callable[[str], object]:
    """``login_as("viewer")``: create a user with that role and log in through the form."""
    from tests.factories import PASSWORD, UserFactory

    def login(role: str, username: str | None = None):
        user = UserFactory(username=username or f"{role}-browser", role=role)
        page = new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        # Logging in lands on the overview ("/").
        page.wait_for_url(lambda url: urlsplit(url).path == "/")
        page.user = user
        return page

    return login


@pytest.fixture
def browser_role() -> str:
    """Override (or parametrize) to choose the role of ``logged_in_page``."""
    return "operator"


@pytest.fixture
def logged_in_page(login_as, browser_role):
    return login_as(browser_role)
