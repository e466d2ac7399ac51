"""Session lifetimes (core.middleware.SessionTimeoutMiddleware): logged out after
SESSION_IDLE_TIMEOUT_MINUTES without a request, and SESSION_MAX_AGE_HOURS after the login."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from core.middleware import LAST_SEEN, LOGIN_AT
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

PAGE = "/services/"


def shift_clocks(client: Client, *, login_ago: float, seen_ago: float) -> None:
    session = client.session
    now = time.time()
    session[LOGIN_AT] = now - login_ago
    session[LAST_SEEN] = now - seen_ago
    session.save()


def test_a_login_starts_both_clocks(operator):
    client = Client()
    before = time.time()
    client.post("/accounts/login/", {"username": operator.username, "password": PASSWORD})

    assert before <= client.session[LOGIN_AT] <= time.time()
    assert client.session[LAST_SEEN] == client.session[LOGIN_AT]


def test_an_active_session_stays(operator_client):
    shift_clocks(operator_client, login_ago=3600, seen_ago=600)

    assert operator_client.get(PAGE).status_code == 200
    # The visit counts as activity.
    assert time.time() - operator_client.session[LAST_SEEN] < 5


def test_an_idle_session_is_logged_out(settings, operator_client):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    shift_clocks(operator_client, login_ago=31 * 60, seen_ago=31 * 60)

    response = operator_client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/services/")
    assert "_auth_user_id" not in operator_client.session
    login = operator_client.get(response["Location"]).content.decode()
    assert "Your session has expired. Log in again." in login


def test_an_old_session_is_logged_out_however_active(settings, operator_client):
    settings.SESSION_MAX_AGE_HOURS = 24
    shift_clocks(operator_client, login_ago=24 * 3600 + 60, seen_ago=10)

    response = operator_client.get(PAGE)

    assert response.status_code == 302
    assert "_auth_user_id" not in operator_client.session


def test_the_api_session_expires_too(settings, operator_client, service):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    shift_clocks(operator_client, login_ago=3600, seen_ago=3600)

    response = operator_client.get(f"/api/v1/services/{service.public_id}/balances")

    assert response.status_code == 401


def test_activity_is_written_at_most_once_a_minute(operator_client):
    shift_clocks(operator_client, login_ago=100, seen_ago=10)
    seen = operator_client.session[LAST_SEEN]

    operator_client.get(PAGE)

    assert operator_client.session[LAST_SEEN] == seen


def test_a_session_from_before_the_clocks_starts_them(operator_client):
    session = operator_client.session
    del session[LOGIN_AT]
    del session[LAST_SEEN]
    session.save()

    assert operator_client.get(PAGE).status_code == 200
    assert time.time() - operator_client.session[LOGIN_AT] < 5


def test_the_cookie_lives_no_longer_than_the_idle_timeout(settings, operator):
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": operator.username, "password": PASSWORD}
    )

    assert int(response.cookies["sessionid"]["max-age"]) == settings.SESSION_COOKIE_AGE
    assert settings.SESSION_COOKIE_AGE == 12 * 3600  # the default idle timeout
