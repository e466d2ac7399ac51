"""Error reporting with sentry-sdk, on when ``SENTRY_DSN`` is set (config/settings.py calls
:func:`sentry_init`).

Django and Celery integrations; no personal data (``send_default_pii=False``: no user, no
cookies, no IP, no request bodies); the release is the package's version; every event carries
the request id of the request or task it came from, so that an operator can go from a Sentry
issue to the log lines and the user's quoted reference.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE = "backoffice"


def release() -> str:
    """``backoffice@<version>``: installed metadata, else the project file beside us."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        version = tomllib.loads(pyproject.read_text())["project"]["version"]
    return f"{PACKAGE}@{version}"


def tag_request_id(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """``before_send``: the request id as a tag (looked up by Sentry's search)."""
    from core.observability import context

    request_id = context.request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def sentry_init(*, dsn: str, environment: str = "") -> bool:
    """Start sentry-sdk when ``dsn`` is given; False (and nothing imported) otherwise."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    options: dict[str, Any] = {
        "dsn": dsn,
        "integrations": [DjangoIntegration(), CeleryIntegration()],
        "send_default_pii": False,
        "release": release(),
        "before_send": tag_request_id,
    }
    if environment:
        options["environment"] = environment
    sentry_sdk.init(**options)
    return True
