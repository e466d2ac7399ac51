"""The settings module, driven by environment variables, run as production would run it: in a
fresh process with a clean environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
FERNET_KEY = "VGVzdE9ubHlLZXlUZXN0T25seUtleVRlc3RPbmx5S2U="
# Long and varied enough for Django's security.W009.
STRONG_SECRET = "k3J9-qLx7_vB2mZp8RtY4wNc6HdF1sGa0UeOiKjT5yXlVrQbCnMoEz"

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": STRONG_SECRET,
    "CREDENTIALS_ENCRYPTION_KEY": FERNET_KEY,
    "ALLOWED_HOSTS": "backoffice.example.com",
    "DATABASE_URL": "postgres://backoffice@db.example.com:5432/backoffice",
}

SHOW_SETTINGS = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
from django.conf import settings
print(json.dumps({name: getattr(settings, name, None) for name in [
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "ALLOWED_HOSTS",
    "SESSION_COOKIE_HTTPONLY", "X_FRAME_OPTIONS",
]} | {"ENGINE": settings.DATABASES["default"]["ENGINE"],
      "WHITENOISE": "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE}))
"""


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(BASE_DIR), **env}
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def check_deploy(**env: str) -> subprocess.CompletedProcess:
    return run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **env)


def settings_with(**env: str) -> dict:
    result = run(["-c", SHOW_SETTINGS], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_settings_pass_the_deploy_check():
    result = check_deploy(**PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_defaults_are_secure():
    values = settings_with(**PRODUCTION)
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["ALLOWED_HOSTS"] == ["backoffice.example.com"]
    assert values["ENGINE"] == "django.db.backends.postgresql"
    assert values["WHITENOISE"] is True


def test_plain_http_behind_a_proxy_still_passes_and_cookies_are_not_secure():
    env = {**PRODUCTION, "HTTPS_ONLY": "0"}
    result = check_deploy(**env)
    assert result.returncode == 0, result.stdout + result.stderr

    values = settings_with(**env)
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    # Only the HTTPS parts are off.
    assert values["DEBUG"] is False
    assert values["X_FRAME_OPTIONS"] == "DENY"


def test_a_weak_secret_key_fails_the_deploy_check():
    result = check_deploy(**{**PRODUCTION, "SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "CREDENTIALS_ENCRYPTION_KEY"])
def test_a_missing_secret_with_debug_off_fails_clearly(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = run(["manage.py", "check"], **env)
    assert result.returncode != 0
    assert f"{missing} is required when DEBUG is off." in result.stderr


def test_a_malformed_boolean_is_refused():
    result = run(["manage.py", "check"], **{**PRODUCTION, "HTTPS_ONLY": "maybe"})
    assert result.returncode != 0
    assert "HTTPS_ONLY must be a boolean" in result.stderr


SHOW_REDIS_PREFIXES = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
from django.conf import settings
print(json.dumps([settings.REDIS_KEY_PREFIX, settings.CACHES["default"]["KEY_PREFIX"],
                  settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix")]))
"""


@pytest.mark.parametrize(
    ("prefix", "expected"), [(None, ["", "bo", None]), ("acme:", ["acme:", "acme:bo", "acme:"])]
)
def test_redis_key_prefix_reaches_the_cache_and_celery(prefix, expected):
    env = {**PRODUCTION, "REDIS_URL": "redis://redis.example.com:6379/0"}
    if prefix is not None:
        env["REDIS_KEY_PREFIX"] = prefix
    result = run(["-c", SHOW_REDIS_PREFIXES], **env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected
