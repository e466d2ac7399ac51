"""Login throttling with django-axes: the backend, the counting rule and the lockout page.

Axes keeps one row per (username, IP, user agent) with its count of failures and the time of
the last one.  A username, or a client IP, is locked once its rows add up to
``LOGIN_FAILURE_LIMIT`` failures, counting a row while its last failure is less than
``LOGIN_FAILURE_WINDOW_MINUTES`` old; a row that reached the limit by itself keeps its lock
for ``LOGIN_COOLOFF_MINUTES`` after its last failure instead.  Attempts during the lock are
refused without being counted, so the lock ends a cool-off after it began.  Admins unlock
early by deleting the "Access attempts" in the Django admin, or with
``python manage.py axes_reset`` (``axes_reset_username NAME``, ``axes_reset_ip IP``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.utils import timezone

STATUS = 429


def lockout_message() -> str:
    minutes = settings.LOGIN_COOLOFF_MINUTES
    return (
        "Too many failed login attempts. Logging in is blocked for "
        f"{minutes} minute{'s' if minutes != 1 else ''}; try again later, "
        "or ask an administrator to unlock it."
    )


class LockoutBackend(AxesStandaloneBackend):
    """Axes' check before the password backends.  Code that authenticates without a request
    (``Client.login`` in tests, scripts) is not a login form and is not throttled; every login
    view passes its request."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler with a counting window apart from the cool-off (see above)."""

    def _window(self) -> timedelta:
        return timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES)

    def _cooloff(self) -> timedelta:
        return timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES)

    def _live(self, request: HttpRequest, credentials: dict | None) -> Q:
        now = getattr(request, "axes_attempt_time", None) or timezone.now()
        limit = get_failure_limit(request, credentials)
        return Q(failures_since_start__lt=limit, attempt_time__gte=now - self._window()) | Q(
            failures_since_start__gte=limit, attempt_time__gte=now - self._cooloff()
        )

    def get_user_attempts(
        self, request: HttpRequest, credentials: dict | None = None
    ) -> list[QuerySet]:
        live = self._live(request, credentials)
        return [
            attempts.filter(live) for attempts in self.filter_user_attempts(request, credentials)
        ]

    def clean_expired_user_attempts(
        self, request: HttpRequest | None = None, credentials: dict | None = None
    ) -> int:
        if request is None:
            return 0
        count, _ = AccessAttempt.objects.exclude(self._live(request, credentials)).delete()
        return count


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The login page the attempt came from (ours or the admin's), with the lockout message
    in place of the form's errors, as 429."""
    message = lockout_message()
    context = getattr(original_response, "context_data", None)
    form = context.get("form") if isinstance(context, dict) else None
    if isinstance(original_response, TemplateResponse) and isinstance(context, dict) and form:
        form.errors.clear()
        form.add_error(None, message)
        context["lockout_message"] = message
        original_response.content = original_response.rendered_content
        original_response.status_code = STATUS
        return original_response
    username = get_client_username(request, credentials) or ""
    form = AuthenticationForm(request, initial={"username": username})
    return render(
        request,
        "registration/login.html",
        {"form": form, "lockout_message": message},
        status=STATUS,
    )
