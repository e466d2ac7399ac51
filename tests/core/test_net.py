"""Which client IP the API throttles and the login lockout see (core/net.py): X-Forwarded-For
only behind our proxy (BEHIND_PROXY=1), and only as many hops as PROXY_HOPS."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory

from core.net import client_ip
from tests.conftest import BAD_API_KEY

BALANCES = "/api/v1/services/srv_whatever/balances"


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_a_proxy_the_header_is_ignored(settings):
    settings.BEHIND_PROXY = False
    assert client_ip(request_from("203.0.113.7", "1.2.3.4")) == "203.0.113.7"


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (1, "1.2.3.4", "1.2.3.4"),
        # The client wrote "6.6.6.6" itself; our one proxy appended the real peer.
        (1, "6.6.6.6, 198.51.100.9", "198.51.100.9"),
        (2, "6.6.6.6, 198.51.100.9, 10.0.0.2", "198.51.100.9"),
        # Fewer addresses than hops: the leftmost there is.
        (3, "198.51.100.9, 10.0.0.2", "198.51.100.9"),
    ],
)
def test_behind_a_proxy_only_our_hops_are_believed(settings, hops, forwarded, expected):
    settings.BEHIND_PROXY = True
    settings.PROXY_HOPS = hops
    assert client_ip(request_from("10.0.0.1", forwarded)) == expected


def test_behind_a_proxy_without_the_header_the_peer_is_the_client(settings):
    settings.BEHIND_PROXY = True
    assert client_ip(request_from("10.0.0.1")) == "10.0.0.1"


@pytest.fixture
def anon_rate(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "anon": "60/min",
        },
    }


def statuses_with_rotating_forwarded_for(count: int) -> list[int]:
    client = Client(REMOTE_ADDR="198.51.100.50", headers={"Authorization": f"Bearer {BAD_API_KEY}"})
    return [
        client.get(BALANCES, HTTP_X_FORWARDED_FOR=f"10.{n // 250}.{n % 250}.1").status_code
        for n in range(count)
    ]


@pytest.mark.django_db
def test_rotating_forwarded_for_does_not_escape_the_anonymous_rate(settings, anon_rate):
    settings.BEHIND_PROXY = False
    statuses = statuses_with_rotating_forwarded_for(80)

    assert set(statuses) == {401, 429}
    assert statuses[:60] == [401] * 60
    assert statuses[60:] == [429] * 20


@pytest.mark.django_db
def test_behind_a_proxy_the_rotating_part_written_by_the_client_is_ignored(settings, anon_rate):
    settings.BEHIND_PROXY = True
    settings.PROXY_HOPS = 1
    client = Client(REMOTE_ADDR="10.0.0.1", headers={"Authorization": f"Bearer {BAD_API_KEY}"})
    statuses = [
        # Whatever the client puts first, our proxy appends the address it saw last.
        client.get(BALANCES, HTTP_X_FORWARDED_FOR=f"10.9.{n % 250}.1, 198.51.100.60").status_code
        for n in range(80)
    ]

    assert statuses.count(429) == 20


@pytest.mark.django_db
def test_the_login_lockout_uses_the_same_rule(settings):
    settings.BEHIND_PROXY = False
    client = Client(REMOTE_ADDR="198.51.100.70")
    client.post(
        "/accounts/login/",
        {"username": "someone", "password": "wrong"},
        HTTP_X_FORWARDED_FOR="1.2.3.4",
    )

    assert AccessAttempt.objects.get().ip_address == "198.51.100.70"
