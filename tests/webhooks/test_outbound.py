"""Webhook URLs follow the outbound rule of provider base URLs (core/outbound.py) with
WEBHOOK_URL_ALLOWLIST: listed hosts only, private addresses only as an exact host:port, checked
on save and again before every POST."""

from __future__ import annotations

import pytest

from core import outbound
from core.actors import Actor
from core.errors import ValidationFailed
from webhooks import actions
from webhooks.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db


def create(url: str):
    return actions.webhook_create(url=url, events=["balance.changed"], actor=Actor.system())


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (
            "https://hooks.example.com/in",
            "hooks.example.com:443 is not listed in WEBHOOK_URL_ALLOWLIST",
        ),
        ("http://127.0.0.1:8000/admin/", "loopback, private or reserved"),
        ("http://localhost:6379/", "localhost:6379 is not listed"),
        ("http://169.254.169.254/latest/meta-data/", "loopback, private or reserved"),
        ("http://[::1]:8000/", "loopback, private or reserved"),
        ("http://0x7f000001:8000/", "loopback, private or reserved"),
        ("http://10.0.0.5/hooks", "loopback, private or reserved"),
        ("ftp://hooks.example.com/", "must be an http(s) URL"),
        ("https://user:pw@hooks.example.com/", "must not carry credentials"),
        ("https://hooks.example.com/#x", "must not have a fragment"),
        ("https://hooks.example.com/a b", "spaces or control characters"),
        ("https://hooks.example.com/\x00", "spaces or control characters"),
        ("https://[::1/", "valid http(s) URL"),
        ("", "Enter the URL"),
    ],
)
def test_urls_outside_the_rule_are_refused_naming_the_field(url, words):
    with pytest.raises(ValidationFailed) as refused:
        create(url)
    assert refused.value.field == "url"
    assert words in refused.value.message
    assert not Webhook.objects.exists()


def test_a_listed_host_is_allowed_on_its_default_port_only(webhook_allow, monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["93.184.216.34"])
    webhook_allow("hooks.example.com")
    create("https://hooks.example.com/in")
    create("http://hooks.example.com/in")
    with pytest.raises(ValidationFailed, match=r"hooks\.example\.com:8443 is not listed"):
        create("https://hooks.example.com:8443/in")


def test_a_listed_name_resolving_to_a_private_address_is_refused(webhook_allow, monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["93.184.216.34", "10.1.2.3"])
    webhook_allow("hooks.example.com")
    with pytest.raises(ValidationFailed, match=r"resolves to 10\.1\.2\.3"):
        create("https://hooks.example.com/in")


def test_a_private_address_listed_exactly_as_host_port_is_allowed(webhook_allow):
    webhook_allow("10.0.0.5:8443")
    webhook, _ = create("https://10.0.0.5:8443/hooks")
    assert webhook.url == "https://10.0.0.5:8443/hooks"
    webhook_allow("10.0.0.6")  # without the port: not enough for a private address
    with pytest.raises(ValidationFailed, match="loopback, private or reserved"):
        create("https://10.0.0.6/hooks")


def test_a_url_no_longer_listed_is_not_called(receiver, make_webhook, balance_event, settings):
    make_webhook()
    settings.WEBHOOK_URL_ALLOWLIST = []
    balance_event()
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.last_error.startswith("The URL is not allowed (any more):")


def test_the_connection_goes_to_the_checked_address_only(
    receiver, make_webhook, balance_event, webhook_allow, monkeypatch
):
    # A listed name (default port only, so no private address allowed) whose resolver answers
    # a loopback address at connect time: refused before connecting, in the uniform words.
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["93.184.216.34"])
    webhook_allow("hooks.example.com")
    make_webhook(url="http://hooks.example.com/in")
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["127.0.0.1"])
    balance_event()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.last_error == "The webhook URL could not be reached."
    assert receiver.requests == []
