"""Logging in and out.  A failed login never tells whether the user exists."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
GENERIC = "The username and password did not match. Try again."


def _without_variable_parts(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    return re.sub(r'name="username" value="[^"]*"', "", html)


def test_login_page_has_the_form(client):
    html = client.get(LOGIN).content.decode()
    assert 'name="username"' in html and 'name="password"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_a_failed_login_does_not_say_whether_the_user_exists(client, operator):
    unknown = client.post(LOGIN, {"username": "nobody-here", "password": PASSWORD})
    wrong = client.post(LOGIN, {"username": operator.username, "password": "not the password"})

    assert unknown.status_code == wrong.status_code == 200
    assert GENERIC in unknown.content.decode()
    assert GENERIC in wrong.content.decode()
    # Not just the message: the whole pages are the same but for the echoed username.
    assert _without_variable_parts(unknown.content.decode()) == _without_variable_parts(
        wrong.content.decode()
    )
    assert "_auth_user_id" not in client.session


def test_an_inactive_user_gets_the_same_message(client):
    UserFactory(username="gone", role="operator", is_active=False)
    response = client.post(LOGIN, {"username": "gone", "password": PASSWORD})
    html = response.content.decode()
    assert GENERIC in html
    assert "inactive" not in html.lower()


def test_login_goes_to_the_page_asked_for(client, operator, service):
    target = f"/services/{service.public_id}/balances/"
    response = client.post(
        f"{LOGIN}?next={target}",
        {"username": operator.username, "password": PASSWORD, "next": target},
    )
    assert response.status_code == 302
    assert response["Location"] == target
    assert client.get(target).status_code == 200


def test_login_does_not_redirect_off_site(client, operator):
    response = client.post(
        LOGIN,
        {"username": operator.username, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"  # the overview


def test_logout_is_a_post_and_ends_the_session(client, operator):
    client.force_login(operator)
    assert client.get("/services/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/services/").status_code == 302


def test_login_needs_its_csrf_token(operator):
    client = Client(enforce_csrf_checks=True)
    credentials = {"username": operator.username, "password": PASSWORD}
    assert client.post(LOGIN, credentials).status_code == 403
    client.get(LOGIN)
    token = client.cookies["csrftoken"].value
    assert client.post(LOGIN, {**credentials, "csrfmiddlewaretoken": token}).status_code == 302


def test_logout_needs_its_csrf_token(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post("/accounts/logout/").status_code == 403
    assert client.get("/services/").status_code == 200
