"""Stored credentials go only where they were entered for: they are bound to the provider kind
and the base URL (inside the encrypted payload).  Changing either needs them again, and
credentials bound elsewhere are never sent, by a sync or by Test connection.

Both servers below are allow-listed: only the binding stands between the stored key and the
second one (the "attacker"), which records everything it receives."""

from __future__ import annotations

import base64

import pytest

from balances.connections.actions import connection_save
from balances.connections.queries import stored_credentials
from balances.models import SyncRun
from balances.sync.request import sync_request
from core.actors import Actor
from core.crypto import decrypt_bound_credentials, encrypt_credentials
from core.errors import ValidationFailed
from services.models import AuditEntry, ProviderConnection
from tests.config.helpers import assert_error, body, send
from tests.provider_server import SYNCPAY_PATH, ProviderServer, syncpay_body

pytestmark = pytest.mark.django_db

KEY = "sk_test_boundkey0123456789"
NEW_KEY = "sk_test_newkey9876543210"
FINIX_USER, FINIX_PASSWORD = "USbound12345", "bound password 42"
AGAIN = "Enter the API key again: the base URL changed."


@pytest.fixture
def servers(allow_listed):
    """(original, attacker): two recording provider servers, both allow-listed."""
    with ProviderServer() as original, ProviderServer() as attacker:
        for server in (original, attacker):
            allow_listed(server.url)
            server.route(SYNCPAY_PATH, syncpay_body(("USD", "10.00", "0.00")))
            server.route("/balances/BLboundUSD", FINIX_BALANCE)
        yield original, attacker


FINIX_BALANCE = {
    "id": "BLboundUSD",
    "currency": "USD",
    "available_amount": 1000,
    "pending_amount": 0,
    "posted_amount": 1000,
}


@pytest.fixture
def connected(service, admin, servers):
    original, _ = servers
    return connection_save(
        service=service,
        kind="syncpay",
        actor=Actor.for_user(admin),
        base_url=original.url,
        credentials={"apiKey": KEY},
    )


def provider_url(service) -> str:
    return f"/api/v1/services/{service.public_id}/provider"


def page_url(service, suffix: str = "") -> str:
    return f"/services/{service.public_id}/provider/{suffix}"


def run_sync(service, django_capture_on_commit_callbacks) -> SyncRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_request(service=service, trigger="button")
    run.refresh_from_db()
    return run


def authorizations(server: ProviderServer) -> list[str | None]:
    return [r.header("Authorization") for r in server.requests]


# --- Changing the base URL or the kind asks for the credentials again ------------------------


def test_api_put_to_another_base_url_without_the_key_is_a_400_and_changes_nothing(
    admin_api, service, connected, servers
):
    original, attacker = servers

    response = send(
        admin_api, "put", provider_url(service), {"kind": "syncpay", "baseUrl": attacker.url}
    )

    error = assert_error(response, 400, "validation_error")
    assert error["details"]["credentials"] == [AGAIN]
    connected.refresh_from_db()
    assert connected.base_url == original.url
    assert attacker.requests == []


def test_form_save_to_another_base_url_without_the_key_asks_for_it(
    admin_client_role, service, connected, servers
):
    _, attacker = servers

    response = admin_client_role.post(
        page_url(service), {"kind": "syncpay", "base_url": attacker.url, "syncpay_api_key": ""}
    )

    assert response.status_code == 400
    assert response.context["form"].errors["syncpay_api_key"] == [AGAIN]
    assert AGAIN in response.content.decode()
    connected.refresh_from_db()
    assert connected.base_url != attacker.url
    assert attacker.requests == []


def test_test_connection_against_another_base_url_sends_nothing_and_is_audited(
    admin_client_role, admin, service, connected, servers
):
    _, attacker = servers

    response = admin_client_role.post(
        page_url(service, "test/"),
        {"kind": "syncpay", "base_url": attacker.url, "syncpay_api_key": ""},
    )

    assert response.status_code == 400
    assert response.context["form"].errors["syncpay_api_key"] == [AGAIN]
    assert attacker.requests == []
    entry = AuditEntry.objects.filter(action="provider_tested").get()
    assert entry.actor_user == admin and entry.subject == service.public_id
    assert entry.changes["outcome"] == "invalid credentials"
    assert KEY not in str(entry.changes)


def test_changing_the_kind_asks_for_the_new_providers_credentials(admin_api, service, connected):
    response = send(admin_api, "put", provider_url(service), {"kind": "payop"})

    error = assert_error(response, 400, "validation_error")
    assert error["details"]["credentials"] == ["Enter the token: the provider changed."]
    assert ProviderConnection.objects.get().kind == "syncpay"


def test_finix_basic_credentials_are_asked_for_by_name(admin, service, servers):
    original, attacker = servers
    actor = Actor.for_user(admin)
    options = {"balanceIds": ["BLboundUSD"]}
    connection_save(
        service=service,
        kind="finix",
        actor=actor,
        base_url=original.url,
        credentials={"username": FINIX_USER, "password": FINIX_PASSWORD},
        options=options,
    )

    with pytest.raises(ValidationFailed) as info:
        connection_save(
            service=service, kind="finix", actor=actor, base_url=attacker.url, options=options
        )
    assert info.value.message == "Enter the username and password again: the base URL changed."
    with pytest.raises(ValidationFailed) as info:
        connection_save(
            service=service,
            kind="finix",
            actor=actor,
            base_url=attacker.url,
            credentials={"password": FINIX_PASSWORD},
            options=options,
        )
    assert info.value.message == "Enter the username again: the base URL changed."
    assert attacker.requests == []


def test_a_new_base_url_with_new_credentials_is_saved_and_only_those_are_sent(
    admin_api, service, connected, servers, django_capture_on_commit_callbacks
):
    _, attacker = servers

    response = send(
        admin_api,
        "put",
        provider_url(service),
        {"kind": "syncpay", "baseUrl": attacker.url, "credentials": {"apiKey": NEW_KEY}},
    )

    assert response.status_code == 200, response.content
    assert run_sync(service, django_capture_on_commit_callbacks).status == "succeeded"
    assert authorizations(attacker) == [f"Bearer {NEW_KEY}"]
    _, binding = decrypt_bound_credentials(ProviderConnection.objects.get().credentials_encrypted)
    assert binding == {"kind": "syncpay", "baseUrl": attacker.url}


def test_another_spelling_of_the_same_base_url_keeps_the_credentials(
    admin_api, service, connected, servers
):
    original, _ = servers
    same = original.url.replace("http://", "HTTP://") + "/"

    response = send(admin_api, "put", provider_url(service), {"kind": "syncpay", "baseUrl": same})

    assert response.status_code == 200, response.content
    assert body(response)["credentialsSet"] == ["apiKey"]
    assert stored_credentials(ProviderConnection.objects.get()) == {"apiKey": KEY}


def test_the_binding_is_inside_the_encrypted_payload(connected, servers):
    original, _ = servers
    credentials, binding = decrypt_bound_credentials(connected.credentials_encrypted)
    assert credentials == {"apiKey": KEY}
    assert binding == {"kind": "syncpay", "baseUrl": original.url}
    assert original.url not in connected.credentials_encrypted


# --- At use time: credentials bound elsewhere are never sent ---------------------------------


@pytest.mark.parametrize("changed", ["base_url", "kind"])
def test_a_sync_after_the_connection_changed_behind_our_back_sends_nothing(
    service, connected, servers, changed, django_capture_on_commit_callbacks, viewer_api
):
    _, attacker = servers
    # As a direct database write would (no action asks for the key again here).
    update = {"base_url": attacker.url} if changed == "base_url" else {"kind": "payop"}
    ProviderConnection.objects.filter(pk=connected.pk).update(**update)

    run = run_sync(service, django_capture_on_commit_callbacks)

    assert run.status == "failed"
    assert run.error_category == "configuration"
    assert "entered for another provider or base URL" in run.error_message
    assert "not sent" in run.error_message
    assert attacker.requests == []
    # The connection no longer shows credentials as set: they would not be used.
    assert body(viewer_api.get(provider_url(service)))["credentialsSet"] == []


def test_test_connection_with_the_stored_settings_uses_the_stored_key_and_is_audited(
    admin_client_role, admin, service, connected, servers
):
    original, _ = servers

    response = admin_client_role.post(
        page_url(service, "test/"),
        {"kind": "syncpay", "base_url": original.url, "syncpay_api_key": ""},
    )

    assert response.status_code == 200
    assert response.context["preview"] is not None
    assert authorizations(original) == [f"Bearer {KEY}"]
    entry = AuditEntry.objects.filter(action="provider_tested").get()
    assert (entry.actor_user, entry.changes) == (
        admin,
        {"kind": "syncpay", "baseUrl": original.url, "outcome": "succeeded"},
    )
    assert entry.created_at is not None


def test_a_failed_test_connection_is_audited_with_its_category(
    admin_client_role, service, connected, servers
):
    original, _ = servers
    original.route(SYNCPAY_PATH, {"error": {"code": "UNAUTHORIZED", "message": "no"}}, status=401)

    response = admin_client_role.post(
        page_url(service, "test/"),
        {"kind": "syncpay", "base_url": original.url, "syncpay_api_key": ""},
    )

    assert response.status_code == 200 and response.context["preview_error"] is not None
    entry = AuditEntry.objects.filter(action="provider_tested").get()
    assert entry.changes["outcome"] == "auth"


def test_credentials_stored_before_bindings_are_bound_to_the_connection_as_it_is(
    service, connected, servers, django_capture_on_commit_callbacks
):
    original, attacker = servers
    legacy = encrypt_credentials({"apiKey": KEY})  # the old format: no binding
    ProviderConnection.objects.filter(pk=connected.pk).update(credentials_encrypted=legacy)

    assert run_sync(service, django_capture_on_commit_callbacks).status == "succeeded"
    assert authorizations(original) == [f"Bearer {KEY}"]
    stored = ProviderConnection.objects.get().credentials_encrypted
    assert decrypt_bound_credentials(stored)[1] == {"kind": "syncpay", "baseUrl": original.url}

    # From then on they are bound like any other.
    ProviderConnection.objects.filter(pk=connected.pk).update(base_url=attacker.url)
    assert run_sync(service, django_capture_on_commit_callbacks).error_category == "configuration"
    assert attacker.requests == []


def test_finix_credentials_never_reach_another_host(
    admin, service, servers, django_capture_on_commit_callbacks
):
    original, attacker = servers
    connection = connection_save(
        service=service,
        kind="finix",
        actor=Actor.for_user(admin),
        base_url=original.url,
        credentials={"username": FINIX_USER, "password": FINIX_PASSWORD},
        options={"balanceIds": ["BLboundUSD"]},
        create_missing_balances=True,
    )
    assert run_sync(service, django_capture_on_commit_callbacks).status == "succeeded"
    pair = base64.b64encode(f"{FINIX_USER}:{FINIX_PASSWORD}".encode()).decode()
    assert authorizations(original) == [f"Basic {pair}"]

    ProviderConnection.objects.filter(pk=connection.pk).update(base_url=attacker.url)
    run = run_sync(service, django_capture_on_commit_callbacks)

    assert (run.status, run.error_category) == ("failed", "configuration")
    assert attacker.requests == [] and authorizations(attacker) == []


def test_an_unchanged_save_keeps_the_credentials_without_asking(admin_api, service, connected):
    response = send(
        admin_api,
        "put",
        provider_url(service),
        {"kind": "syncpay", "baseUrl": connected.base_url, "createMissingBalances": True},
    )
    assert response.status_code == 200, response.content
    assert stored_credentials(ProviderConnection.objects.get()) == {"apiKey": KEY}
