"""Password-reset requests are rate-limited per client address and per email address; over a
limit nothing is sent and the form says when to try again."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from core import ratelimit
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/accounts/password_reset/"


@pytest.fixture(autouse=True)
def _fresh_windows():
    ratelimit.reset(prefix="pwreset:")
    yield
    ratelimit.reset(prefix="pwreset:")


def test_one_address_gets_a_few_emails_an_hour_then_a_429(settings):
    settings.PASSWORD_RESET_LIMIT_PER_EMAIL = 2
    UserFactory(username="frieda", email="frieda@example.test")
    client = Client()
    for _ in range(2):
        assert client.post(URL, {"email": "frieda@example.test"}).status_code == 302
    refused = client.post(URL, {"email": "Frieda@Example.test"})  # the same address
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert "Too many password reset requests. Try again in" in refused.content.decode()
    assert len(mail.outbox) == 2


def test_unknown_addresses_are_limited_the_same_way(settings):
    settings.PASSWORD_RESET_LIMIT_PER_EMAIL = 1
    client = Client()
    assert client.post(URL, {"email": "nobody@example.test"}).status_code == 302
    assert client.post(URL, {"email": "nobody@example.test"}).status_code == 429
    assert mail.outbox == []


def test_one_client_may_not_walk_through_many_addresses(settings):
    settings.PASSWORD_RESET_LIMIT_PER_IP = 3
    client = Client(REMOTE_ADDR="203.0.113.9")
    codes = [client.post(URL, {"email": f"user{i}@example.test"}).status_code for i in range(5)]
    assert codes == [302, 302, 302, 429, 429]
    other = Client(REMOTE_ADDR="203.0.113.10")
    assert other.post(URL, {"email": "user9@example.test"}).status_code == 302


def test_resets_still_work_when_the_window_store_is_down(settings, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("redis unreachable")

    monkeypatch.setattr(ratelimit, "hit", down)
    UserFactory(username="otto", email="otto@example.test")
    assert Client().post(URL, {"email": "otto@example.test"}).status_code == 302
    assert len(mail.outbox) == 1


def test_a_bad_email_is_still_a_form_error_and_costs_no_slot(settings):
    settings.PASSWORD_RESET_LIMIT_PER_IP = 1
    client = Client()
    response = client.post(URL, {"email": "not an email\x00"})
    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert client.post(URL, {"email": "a@example.test"}).status_code == 302
