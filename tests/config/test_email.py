"""Email settings from the environment (EMAIL_URL or EMAIL_*), and the password reset flow
that uses them, end to end with the locmem backend."""

from __future__ import annotations

import json
import re

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from config.email_url import parse_email_url
from tests.config.test_settings import PRODUCTION, run
from tests.factories import PASSWORD, UserFactory

SMTP = "django.core.mail.backends.smtp.EmailBackend"

# --- EMAIL_URL --------------------------------------------------------------------------------


def test_a_submission_url_with_starttls():
    assert parse_email_url("smtp://mailer:s3cret@mail.example.com:587/?tls=1") == {
        "EMAIL_BACKEND": SMTP,
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "s3cret",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
    }


@pytest.mark.parametrize(
    ("url", "port", "tls", "ssl"),
    [
        ("smtp://relay.example.com", 25, False, False),
        ("smtp+tls://relay.example.com", 587, True, False),
        ("submission://relay.example.com", 587, True, False),
        ("smtps://relay.example.com", 465, False, True),
        ("smtp://relay.example.com/?ssl=1", 465, False, True),
        ("smtp://relay.example.com:2525/?tls=true", 2525, True, False),
    ],
)
def test_schemes_and_flags_choose_port_and_tls(url, port, tls, ssl):
    parsed = parse_email_url(url)
    assert (parsed["EMAIL_PORT"], parsed["EMAIL_USE_TLS"], parsed["EMAIL_USE_SSL"]) == (
        port,
        tls,
        ssl,
    )
    assert parsed["EMAIL_HOST_USER"] == parsed["EMAIL_HOST_PASSWORD"] == ""


def test_user_and_password_are_percent_decoded():
    parsed = parse_email_url(
        "smtp://apikey%40example.com:p%40ss%3Aw%2Frd@smtp.example.com:587/?tls=1"
    )
    assert parsed["EMAIL_HOST_USER"] == "apikey@example.com"
    assert parsed["EMAIL_HOST_PASSWORD"] == "p@ss:w/rd"


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("console://", "django.core.mail.backends.console.EmailBackend"),
        ("locmem://", "django.core.mail.backends.locmem.EmailBackend"),
        ("dummy://", "django.core.mail.backends.dummy.EmailBackend"),
    ],
)
def test_local_backends(url, backend):
    assert parse_email_url(url) == {"EMAIL_BACKEND": backend}


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.com",
        "smtp://",
        "smtp://mail.example.com:notaport",
        "smtp://mail.example.com/?tls=1&ssl=1",
        "smtp://mail.example.com/?tls=maybe",
    ],
)
def test_malformed_urls_are_refused(url):
    with pytest.raises(ImproperlyConfigured):
        parse_email_url(url)


def test_the_error_never_echoes_the_password():
    with pytest.raises(ImproperlyConfigured) as error:
        parse_email_url("smtp://u:hunter2@mail.example.com:x")
    assert "hunter2" not in str(error.value)


SHOW_EMAIL = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
from django.conf import settings
print(json.dumps({n: getattr(settings, n) for n in [
    "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS", "EMAIL_USE_SSL", "DEFAULT_FROM_EMAIL"]}))
"""


def email_settings(**env: str) -> dict:
    result = run(["-c", SHOW_EMAIL], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_embedded_default_prints_mail_on_the_console(tmp_path):
    values = email_settings(SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_production_reads_email_url():
    values = email_settings(
        **PRODUCTION,
        EMAIL_URL="smtp://mailer:s3cret@mail.example.com:587/?tls=1",
        DEFAULT_FROM_EMAIL="Back-office <ops@example.com>",
    )
    assert values == {
        "EMAIL_BACKEND": SMTP,
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "s3cret",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
        "DEFAULT_FROM_EMAIL": "Back-office <ops@example.com>",
    }


def test_production_reads_the_separate_variables():
    values = email_settings(
        **PRODUCTION,
        EMAIL_HOST="relay.example.com",
        EMAIL_PORT="2525",
        EMAIL_HOST_USER="bo",
        EMAIL_HOST_PASSWORD="pw",
        EMAIL_USE_TLS="1",
    )
    assert values["EMAIL_BACKEND"] == SMTP
    assert (values["EMAIL_HOST"], values["EMAIL_PORT"]) == ("relay.example.com", 2525)
    assert (values["EMAIL_HOST_USER"], values["EMAIL_HOST_PASSWORD"]) == ("bo", "pw")
    assert values["EMAIL_USE_TLS"] is True


def test_a_bad_email_url_stops_the_start_without_showing_it():
    result = run(["manage.py", "check"], **PRODUCTION, EMAIL_URL="ftp://u:hunter2@mail.example.com")
    assert result.returncode != 0
    assert "EMAIL_URL: unknown scheme 'ftp'" in result.stderr
    assert "hunter2" not in result.stderr


# --- Password reset, end to end -----------------------------------------------------------------


@pytest.mark.django_db
def test_password_reset_end_to_end():
    user = UserFactory(username="frieda", role="viewer", email="frieda@example.test")
    client = Client()

    login_page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password_reset/"' in login_page
    assert "Forgot your password?" in login_page

    form = client.get("/accounts/password_reset/")
    assert form.status_code == 200
    assert "Reset your password" in form.content.decode()

    sent = client.post("/accounts/password_reset/", {"email": "frieda@example.test"})
    assert sent.status_code == 302
    done = client.get(sent["Location"])
    assert "Check your email" in done.content.decode()

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["frieda@example.test"]
    assert message.subject == "Reset your Back-office password"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)

    # The link redirects to a URL without the token (Django keeps it in the session).
    confirm = client.get(link)
    assert confirm.status_code == 302
    page = client.get(confirm["Location"])
    assert "Choose a new password" in page.content.decode()
    new_password = "a brand new passphrase 42"
    changed = client.post(
        confirm["Location"], {"new_password1": new_password, "new_password2": new_password}
    )
    assert changed.status_code == 302
    complete = client.get(changed["Location"])
    assert "Password changed" in complete.content.decode()

    fresh = Client()
    assert (
        fresh.post("/accounts/login/", {"username": "frieda", "password": PASSWORD}).status_code
        == 200
    )  # the old password no longer works
    logged_in = fresh.post("/accounts/login/", {"username": "frieda", "password": new_password})
    assert logged_in.status_code == 302
    assert fresh.session["_auth_user_id"] == str(user.pk)

    # The link works once.
    again = client.get(link, follow=True)
    assert "This link is no longer valid" in again.content.decode()


@pytest.mark.django_db
def test_a_reset_for_an_unknown_address_looks_the_same_and_sends_nothing():
    client = Client()
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.test"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    assert mail.outbox == []


@pytest.mark.django_db
def test_the_new_password_must_pass_the_validators():
    UserFactory(username="gus", email="gus@example.test")
    client = Client()
    client.post("/accounts/password_reset/", {"email": "gus@example.test"})
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    url = client.get(link)["Location"]

    response = client.post(url, {"new_password1": "12345678", "new_password2": "12345678"})

    assert response.status_code == 200
    assert "This password is too common" in response.content.decode()
