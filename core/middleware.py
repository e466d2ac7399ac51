"""Small middlewares every page shares: the Content-Security-Policy and Permissions-Policy
headers, and session lifetimes."""

from __future__ import annotations

import time
from collections.abc import Callable

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

# Session keys (epoch seconds).
LOGIN_AT = "_login_at"
LAST_SEEN = "_last_seen"


# What a view or a template can do to change the policy of one response (django-csp's
# decorators set these on the response; a template asking for a nonce sets it on the request).
_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the headers built once.

    django-csp builds both headers (enforced and report-only) from the settings on every
    response.  Unless the response changed its policy (django-csp's decorators) or a template
    asked for a nonce, both are the same strings every time: built once per settings value
    (a changed setting builds them again) and set under django-csp's own rules (exempt
    responses, excluded URL prefixes, DEBUG's error pages).  Anything else goes through
    django-csp unchanged."""

    _built: tuple[object, object, str, str] | None = None

    def _policies(self) -> tuple[str, str]:
        enforced = getattr(settings, "CONTENT_SECURITY_POLICY", None)
        report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
        built = self._built
        if built is None or built[0] is not enforced or built[1] is not report_only:
            built = (enforced, report_only, build_policy(), build_policy(report_only=True))
            self._built = built
        return built[2], built[3]

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in _PER_RESPONSE
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response  # django-csp leaves Django's debug pages alone
        enforced, report_only = self._policies()
        for header, policy, exempt, setting in (
            (HEADER, enforced, "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (
                HEADER_REPORT_ONLY,
                report_only,
                "_csp_exempt_ro",
                "CONTENT_SECURITY_POLICY_REPORT_ONLY",
            ),
        ):
            if not policy or header in response or getattr(response, exempt, False) is not False:
                continue
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            if not request.path_info.startswith(tuple(prefixes)):
                response[header] = policy
        # As django-csp does: a nonce asked for after the header was written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response


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
