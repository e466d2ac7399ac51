"""``EMAIL_URL`` → Django's EMAIL_* settings, e.g. ``smtp://user:pass@host:587/?tls=1``.

Schemes: ``smtp`` (plain, or STARTTLS with ``?tls=1``, implicit TLS with ``?ssl=1``),
``smtp+tls`` / ``submission`` (STARTTLS, port 587 by default), ``smtps`` / ``smtp+ssl``
(implicit TLS, port 465 by default), and ``console``, ``locmem``, ``dummy`` (no server).  User
and password are percent-decoded, so a password may hold any character written as ``%XX``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

SMTP = "django.core.mail.backends.smtp.EmailBackend"
LOCAL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}
# scheme -> (STARTTLS, implicit TLS)
SMTP_SCHEMES = {
    "smtp": (False, False),
    "smtp+tls": (True, False),
    "submission": (True, False),
    "smtps": (False, True),
    "smtp+ssl": (False, True),
}
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def _flag(query: dict[str, list[str]], name: str, default: bool) -> bool:
    if name not in query:
        return default
    value = query[name][-1].strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"EMAIL_URL: ?{name}= must be 1 or 0, not {value!r}.")


def parse_email_url(url: str) -> dict[str, Any]:
    """The EMAIL_* settings that ``url`` names (never echoing the URL: it holds a password)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in LOCAL_BACKENDS:
        return {"EMAIL_BACKEND": LOCAL_BACKENDS[scheme]}
    if scheme not in SMTP_SCHEMES:
        known = ", ".join([*SMTP_SCHEMES, *LOCAL_BACKENDS])
        raise ImproperlyConfigured(f"EMAIL_URL: unknown scheme {scheme!r} (one of {known}).")
    query = parse_qs(parts.query, keep_blank_values=True)
    default_tls, default_ssl = SMTP_SCHEMES[scheme]
    use_tls = _flag(query, "tls", default_tls)
    use_ssl = _flag(query, "ssl", default_ssl)
    if use_tls and use_ssl:
        raise ImproperlyConfigured(
            "EMAIL_URL: tls (STARTTLS) and ssl (implicit TLS) exclude each other."
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ImproperlyConfigured("EMAIL_URL: the port must be a number.") from exc
    if not parts.hostname:
        raise ImproperlyConfigured("EMAIL_URL: the host is missing.")
    return {
        "EMAIL_BACKEND": SMTP,
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or (465 if use_ssl else 587 if use_tls else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
    }
