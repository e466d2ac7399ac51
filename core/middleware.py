"""Small middlewares every page shares: the Permissions-Policy header and session lifetimes."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

# Session keys (epoch seconds).
LOGIN_AT = "_login_at"
LAST_SEEN = "_last_seen"


class PermissionsPolicyMiddleware:
    """Switch off browser features no page uses (``settings.PERMISSIONS_POLICY``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = getattr(settings, "PERMISSIONS_POLICY", "")
        if policy and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = policy
        return response


def mark_login(request: HttpRequest) -> None:
    now = time.time()
    request.session[LOGIN_AT] = now
    request.session[LAST_SEEN] = now


def start_session_clocks(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    """``user_logged_in`` receiver (connected in core/apps.py)."""
    if request is not None and hasattr(request, "session"):
        mark_login(request)


class SessionTimeoutMiddleware:
    """Log out a session idle for ``SESSION_IDLE_TIMEOUT_MINUTES`` or older than
    ``SESSION_MAX_AGE_HOURS`` since its login.

    Checked on every request, the API's session callers included (this runs before DRF's
    SessionAuthentication reads ``request.user``).  The last-seen time is written at most once a
    minute, so a busy page (htmx polls every second) does not write its session each time.
    """

    TOUCH_EVERY_SECONDS = 60

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        now = time.time()
        session = request.session
        idle_limit = settings.SESSION_IDLE_TIMEOUT_MINUTES * 60
        age_limit = settings.SESSION_MAX_AGE_HOURS * 3600
        login_at = session.get(LOGIN_AT)
        last_seen = session.get(LAST_SEEN)
        if not isinstance(login_at, int | float) or not isinstance(last_seen, int | float):
            # A session from before these clocks existed: they start now.
            mark_login(request)
            return
        if now - last_seen > idle_limit or now - login_at > age_limit:
            logout(request)  # flushes the session: a new, anonymous one
            if not request.path.startswith("/api/"):
                messages.info(request, "Your session has expired. Log in again.")
            return
        if now - last_seen >= min(self.TOUCH_EVERY_SECONDS, idle_limit / 4):
            # Marks the session modified: saved, with its cookie's expiry pushed back.
            session[LAST_SEEN] = now
