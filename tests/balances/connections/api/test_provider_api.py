"""GET|PUT|DELETE /services/{serviceId}/provider: credentials go in, never come out."""

from __future__ import annotations

import pytest

from balances.connections.queries import stored_credentials
from services.models import AuditEntry, ProviderConnection
from tests.config.helpers import assert_error, body, send

pytestmark = pytest.mark.django_db

SECRET = "super-secret-password-123"


def url(service) -> str:
    return f"/api/v1/services/{service.public_id}/provider"


def test_put_creates_the_connection_201_without_echoing_credentials(admin_api, service, settings):
    settings.PROVIDER_BASE_URL_ALLOWLIST = ["finix.example.test"]
    response = send(
        admin_api,
        "put",
        url(service),
        {
            "kind": "finix",
            "baseUrl": "https://finix.example.test/",
            "credentials": {"username": "US123", "password": SECRET},
            "options": {"balanceIds": ["BA1"], "version": "2022-02-01"},
            "createMissingBalances": True,
        },
    )

    assert response.status_code == 201
    assert SECRET.encode() not in response.content and b"US123" not in response.content
    data = body(response)
    assert data["kind"] == "finix"
    assert data["baseUrl"] == "https://finix.example.test"
    assert data["credentialsSet"] == ["password", "username"]
    assert data["options"]["balanceIds"] == ["BA1"]
    assert data["createMissingBalances"] is True
    connection = ProviderConnection.objects.get(service=service)
    assert stored_credentials(connection) == {"username": "US123", "password": SECRET}
    assert SECRET not in connection.credentials_encrypted
    assert SECRET not in str(AuditEntry.objects.get(object_type="connection").changes)


def test_get_shows_which_credentials_are_set_never_their_values(admin_api, viewer_api, service):
    send(
        admin_api,
        "put",
        url(service),
        {"kind": "wise", "credentials": {"apiToken": SECRET}, "options": {"profileId": "42"}},
    )

    response = viewer_api.get(url(service))

    assert response.status_code == 200
    assert SECRET.encode() not in response.content
    data = body(response)
    assert data["credentialsSet"] == ["apiToken"]
    assert "credentials" not in data
    assert data["effectiveBaseUrl"].startswith("https://")


def test_put_again_replaces_settings_and_keeps_credentials_left_out(admin_api, service):
    send(admin_api, "put", url(service), {"kind": "payop", "credentials": {"token": SECRET}})

    response = send(
        admin_api, "put", url(service), {"kind": "payop", "options": {"currencies": ["EUR"]}}
    )

    assert response.status_code == 200
    assert body(response)["options"] == {"currencies": ["EUR"]}
    assert stored_credentials(ProviderConnection.objects.get())["token"] == SECRET


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "paypal"}, "kind"),
        ({}, "kind"),
        ({"kind": "syncpay"}, "credentials"),  # the key is missing
        ({"kind": "syncpay", "credentials": {"apiKey": "nope"}}, "credentials"),
        ({"kind": "syncpay", "credentials": {"apiKey": "sk_test_1", "extra": "x"}}, "credentials"),
        ({"kind": "syncpay", "credentials": {"apiKey": 5.5}}, "credentials"),
        ({"kind": "syncpay", "credentials": "sk_test_1"}, "credentials"),
        (
            {"kind": "syncpay", "credentials": {"apiKey": "sk_test_1"}, "baseUrl": "ftp://x"},
            "baseUrl",
        ),
        (
            {
                "kind": "finix",
                "credentials": {"username": "u", "password": "p"},
                "options": {"version": "yesterday"},
            },
            "options",
        ),
    ],
)
def test_put_with_bad_input_is_a_400_naming_the_field(admin_api, service, payload, field):
    response = send(admin_api, "put", url(service), payload)

    error = assert_error(response, 400, "validation_error")
    assert field in error["details"], error
    assert not ProviderConnection.objects.exists()


def test_bad_credentials_are_not_echoed_in_the_error(admin_api, service):
    response = send(
        admin_api, "put", url(service), {"kind": "syncpay", "credentials": {"apiKey": SECRET}}
    )

    assert_error(response, 400)
    assert SECRET.encode() not in response.content


def test_get_without_a_connection_is_a_404(viewer_api, service):
    assert_error(viewer_api.get(url(service)), 404, "not_found")


def test_delete_disconnects_then_404(admin_api, service):
    send(admin_api, "put", url(service), {"kind": "payop", "credentials": {"token": SECRET}})

    assert admin_api.delete(url(service)).status_code == 204
    assert not ProviderConnection.objects.exists()
    assert_error(admin_api.delete(url(service)), 404)
