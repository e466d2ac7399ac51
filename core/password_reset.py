"""The password-reset request page, rate-limited: each request sends an email, so without a
limit the page is a way to flood a mailbox (or the mail relay) and to probe at no cost.

A client address may ask ``PASSWORD_RESET_LIMIT_PER_IP`` times an hour, and one email address
may be asked for ``PASSWORD_RESET_LIMIT_PER_EMAIL`` times an hour, whether or not an account
has it (so the answer tells nothing about which addresses exist).  Over a limit the form is
shown again with a 429 and when to try again; nothing is sent.  When the shared window store
(Redis) cannot be reached the request goes through, logged: a reset must stay possible.
"""

from __future__ import annotations

import hashlib
import logging
import math

from django.conf import settings
from django.contrib.auth.views import PasswordResetView
from django.http import HttpResponse

from core import ratelimit
from core.net import client_ip

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 3600


def _wait_seconds(request, email: str) -> float:
    """0 when this request may send an email, else the seconds until it may (both windows
    are charged only when both have room)."""
    address = client_ip(request) or "unknown"
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    wait = ratelimit.hit(
        f"pwreset:ip:{address}", limit=settings.PASSWORD_RESET_LIMIT_PER_IP, seconds=WINDOW_SECONDS
    )
    if wait:
        return wait
    return ratelimit.hit(
        f"pwreset:email:{digest}",
        limit=settings.PASSWORD_RESET_LIMIT_PER_EMAIL,
        seconds=WINDOW_SECONDS,
    )


class ThrottledPasswordResetView(PasswordResetView):
    def form_valid(self, form) -> HttpResponse:
        try:
            wait = _wait_seconds(self.request, form.cleaned_data["email"])
        except Exception:  # the window store is down: let the reset through
            logger.warning("Password reset limits could not be checked; request allowed.")
            wait = 0.0
        if wait:
            minutes = max(1, math.ceil(wait / 60))
            form.add_error(
                None,
                "Too many password reset requests. "
                f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            )
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(math.ceil(wait))
            return response
        return super().form_valid(form)
