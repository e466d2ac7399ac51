"""A base URL must be one of the provider's documented hosts, a host in
PROVIDER_BASE_URL_ALLOWLIST, or the app's own sandboxes; loopback, private and other internal
addresses, in any notation, only when listed exactly as host:port.  Refused on save (API 400
naming baseUrl, form error) and by Test connection, with no request made."""

from __future__ import annotations

import pytest

from balances.connections.actions import connection_save
from core.actors import Actor
from services.models import ProviderConnection
from tests.config.helpers import assert_error, send
from tests.provider_server import SYNCPAY_PATH, ProviderServer, syncpay_body

pytestmark = pytest.mark.django_db

KEY = "sk_test_rulesKey0123456"


@pytest.fixture
def unlisted():
    """A recording server nobody listed: no request may ever reach it."""
    with ProviderServer() as server:
        server.route(SYNCPAY_PATH, syncpay_body(("USD", "1.00", "0.00")))
        yield server


# "{port}" is the port of the recording server, so that a request that slipped through
# would be seen.
HOSTILE = [
    "http://127.0.0.1:6379",
    "http://127.0.0.1:5432",
    "http://[::1]",
    "http://[::1]:6379",
    "http://169.254.169.254/latest",
    "http://10.0.0.1",
    "https://evil.example",
    "http://api.usesyncpay.com",  # the documented host, but not over https
    "http://127.0.0.1:{port}",
    "http://0x7f000001:{port}",
    "http://2130706433:{port}",
    "http://0177.0.0.1:{port}",
    "http://127.1:{port}",
    "http://[::ffff:127.0.0.1]:{port}",
    "http://localhost:{port}",
    "http://127.0.0.1:{port}/sandbox/syncpay",  # not where our sandboxes are
]


@pytest.mark.parametrize("template", HOSTILE)
def test_api_refuses_hostile_base_urls_with_a_400_naming_base_url(
    admin_api, service, unlisted, template
):
    response = send(
        admin_api,
        "put",
        f"/api/v1/services/{service.public_id}/provider",
        {
            "kind": "syncpay",
            "baseUrl": template.format(port=unlisted.port),
            "credentials": {"apiKey": KEY},
        },
    )

    error = assert_error(response, 400, "validation_error")
    assert "baseUrl" in error["details"], error
    assert not ProviderConnection.objects.exists()
    assert unlisted.requests == []


@pytest.mark.parametrize("template", HOSTILE)
def test_form_and_test_connection_refuse_hostile_base_urls(
    admin_client_role, service, unlisted, template
):
    url = template.format(port=unlisted.port)
    data = {"kind": "syncpay", "base_url": url, "syncpay_api_key": KEY}

    saved = admin_client_role.post(f"/services/{service.public_id}/provider/", data)
    tested = admin_client_role.post(f"/services/{service.public_id}/provider/test/", data)

    for response in (saved, tested):
        assert response.status_code == 400
        errors = response.context["form"].errors["base_url"]
        assert errors and errors[0].startswith("Base URL not allowed:"), errors
        assert "Base URL not allowed:" in response.content.decode()
    assert not ProviderConnection.objects.exists()
    assert unlisted.requests == []


def test_the_refusal_says_how_to_allow_a_private_address(admin_api, service):
    response = send(
        admin_api,
        "put",
        f"/api/v1/services/{service.public_id}/provider",
        {"kind": "syncpay", "baseUrl": "http://0x7f000001:6379", "credentials": {"apiKey": KEY}},
    )
    message = assert_error(response, 400)["details"]["baseUrl"][0]
    assert "exactly as host:port in PROVIDER_BASE_URL_ALLOWLIST" in message


def test_a_host_port_listed_exactly_is_accepted(admin_api, service, unlisted, settings):
    settings.PROVIDER_BASE_URL_ALLOWLIST = [f"127.0.0.1:{unlisted.port}"]

    response = send(
        admin_api,
        "put",
        f"/api/v1/services/{service.public_id}/provider",
        {"kind": "syncpay", "baseUrl": unlisted.url, "credentials": {"apiKey": KEY}},
    )

    assert response.status_code == 201, response.content


def test_a_listed_name_that_resolves_to_loopback_is_refused_on_save(admin_api, service, settings):
    settings.PROVIDER_BASE_URL_ALLOWLIST = ["localhost"]

    response = send(
        admin_api,
        "put",
        f"/api/v1/services/{service.public_id}/provider",
        {"kind": "syncpay", "baseUrl": "http://localhost", "credentials": {"apiKey": KEY}},
    )

    message = assert_error(response, 400)["details"]["baseUrl"][0]
    assert "resolves to 127.0.0.1" in message


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("syncpay", ""),
        ("syncpay", "https://api.usesyncpay.com"),
        ("finix", "https://finix.sandbox-payments-api.com"),
        ("finix", "https://finix.live-payments-api.com/"),
    ],
)
def test_documented_hosts_need_no_configuration(admin, service, kind, url):
    from tests.factories import PROVIDER_CREDENTIALS, PROVIDER_OPTIONS

    connection = connection_save(
        service=service,
        kind=kind,
        actor=Actor.for_user(admin),
        base_url=url,
        credentials=PROVIDER_CREDENTIALS[kind],
        options=PROVIDER_OPTIONS.get(kind, {}),
    )
    assert connection.pk


def test_another_providers_documented_host_is_refused(admin_api, service):
    response = send(
        admin_api,
        "put",
        f"/api/v1/services/{service.public_id}/provider",
        {
            "kind": "syncpay",
            "baseUrl": "https://finix.live-payments-api.com",
            "credentials": {"apiKey": KEY},
        },
    )
    assert "baseUrl" in assert_error(response, 400)["details"]


def test_the_apps_own_sandbox_is_allowed_without_configuration(admin, service, settings):
    settings.PROVIDER_SANDBOXES = True
    settings.PROVIDER_SANDBOX_URL = "http://127.0.0.1:8000/sandbox"
    settings.PROVIDER_BASE_URL_ALLOWLIST = []

    connection = connection_save(
        service=service,
        kind="syncpay",
        actor=Actor.for_user(admin),
        base_url="http://127.0.0.1:8000/sandbox/syncpay",
        credentials={"apiKey": KEY},
    )
    assert connection.pk

    # Only under the sandbox prefix, and only while the sandboxes are on.
    from core.errors import ValidationFailed

    for url in ("http://127.0.0.1:8000/admin", "http://127.0.0.1:8000/sandbox/%2e%2e/admin"):
        with pytest.raises(ValidationFailed) as info:
            connection_save(
                service=service,
                kind="syncpay",
                actor=Actor.for_user(admin),
                base_url=url,
                credentials={"apiKey": KEY},
            )
        assert info.value.field == "baseUrl"
    settings.PROVIDER_SANDBOXES = False
    with pytest.raises(ValidationFailed):
        connection_save(
            service=service,
            kind="syncpay",
            actor=Actor.for_user(admin),
            base_url="http://127.0.0.1:8000/sandbox/syncpay",
            credentials={"apiKey": KEY},
        )


def test_the_sandbox_address_follows_the_port_setting():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    script = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'\n"
        "import django; django.setup()\n"
        "from django.conf import settings as s\n"
        "print(s.PROVIDER_SANDBOX_URL, s.PROVIDER_BASE_URL_ALLOWLIST)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(root),
        "PORT": "9123",
        "PROVIDER_BASE_URL_ALLOWLIST": "eu.provider.example, 10.0.0.5:8443",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "http://127.0.0.1:9123/sandbox ['eu.provider.example', '10.0.0.5:8443']"
    )

    env["PROVIDER_BASE_URL_ALLOWLIST"] = "10.0.0.5:http"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "PROVIDER_BASE_URL_ALLOWLIST" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_the_base_url_is_looked_up_before_any_lock_is_taken(admin, service, monkeypatch, settings):
    """A slow resolver must not hold the connection's row lock (which a sync's final write
    needs while it holds the service's balances) nor, on SQLite, the database's write lock."""
    from django.db import connection as db

    from core import outbound
    from tests.factories import PROVIDER_CREDENTIALS

    looked_up = []
    real = outbound._resolved_in_time

    def resolver(host, port):  # in the caller's thread, with its database connection
        looked_up.append((host, db.in_atomic_block))
        return real(host, port)

    monkeypatch.setattr(outbound, "_resolved_in_time", resolver)
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["93.184.216.34"])
    settings.PROVIDER_BASE_URL_ALLOWLIST = ["provider.example"]
    saved = connection_save(
        service=service,
        kind="syncpay",
        actor=Actor.for_user(admin),
        base_url="https://provider.example",
        credentials=PROVIDER_CREDENTIALS["syncpay"],
    )
    assert saved.pk
    assert looked_up and all(not inside for _host, inside in looked_up), looked_up
