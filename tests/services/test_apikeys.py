"""API keys: created once, stored as a hash, revocable; the command and the user's page."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from core.errors import NotFound, ValidationFailed
from services.accounts.actions import api_key_create, api_key_revoke
from services.models import ApiKey
from tests.conftest import api_client_with_key

pytestmark = pytest.mark.django_db


# --- Actions ---------------------------------------------------------------------------------


def test_create_returns_the_key_once_and_stores_only_its_hash(viewer):
    key, raw = api_key_create(user=viewer, name=" CI  job ")

    assert raw.startswith("bo_") and len(raw) == 46
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert key.prefix == raw[:11]
    assert key.name == "CI job" and key.read_only is False
    stored = ApiKey.objects.values().get(pk=key.pk)
    assert raw not in str(stored)


def test_every_key_is_different(viewer):
    assert api_key_create(user=viewer, name="a")[1] != api_key_create(user=viewer, name="a")[1]


def test_a_key_needs_a_name(viewer):
    with pytest.raises(ValidationFailed) as exc:
        api_key_create(user=viewer, name="   ")
    assert exc.value.field == "name"


def test_revoke_is_for_the_owner_only_and_idempotent(viewer, operator):
    key, _raw = api_key_create(user=viewer, name="a")

    with pytest.raises(NotFound):
        api_key_revoke(user=operator, key_id=key.pk)
    first = api_key_revoke(user=viewer, key_id=key.pk).revoked_at
    assert first is not None
    assert api_key_revoke(user=viewer, key_id=key.pk).revoked_at == first


# --- manage.py create_api_token ----------------------------------------------------------------


def test_command_prints_the_key_alone_on_its_last_line(operator, service):
    out, err = StringIO(), StringIO()

    call_command("create_api_token", operator.username, "--name", "reports", stdout=out, stderr=err)

    raw = out.getvalue().strip().splitlines()[-1]
    assert raw.startswith("bo_") and " " not in raw
    key = ApiKey.objects.get(user=operator)
    assert (key.name, key.read_only) == ("reports", False)
    response = api_client_with_key(raw).get(f"/api/v1/services/{service.public_id}/balances")
    assert response.status_code == 200
    assert raw not in err.getvalue()


def test_command_read_only_key_cannot_write(admin, service):
    out = StringIO()
    call_command("create_api_token", admin.username, "--read-only", stdout=out, stderr=StringIO())

    raw = out.getvalue().strip().splitlines()[-1]
    assert ApiKey.objects.get(user=admin).read_only
    response = api_client_with_key(raw).post(
        f"/api/v1/services/{service.public_id}/balances",
        {"currency": "EUR"},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "ghost", stdout=StringIO(), stderr=StringIO())


# --- The API keys page -----------------------------------------------------------------------


def test_page_needs_a_signed_in_user(client):
    response = client.get("/account/api-keys/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_page_lists_only_my_keys_and_never_their_secret(viewer_client, viewer, operator):
    mine, _raw = api_key_create(user=viewer, name="my script")
    api_key_create(user=operator, name="someone else's")

    html = viewer_client.get("/account/api-keys/").content.decode()

    assert "my script" in html and mine.prefix in html
    assert "someone else" not in html
    assert mine.key_hash not in html


def test_creating_shows_the_key_once(viewer_client, viewer, service):
    response = viewer_client.post("/account/api-keys/", {"name": "laptop", "read_only": "on"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(user=viewer)
    assert key.read_only
    html = response.content.decode()
    raw = html.split('id="new-api-key">')[1].split("<")[0]
    assert raw.startswith(key.prefix)
    assert (
        api_client_with_key(raw).get(f"/api/v1/services/{service.public_id}/balances").status_code
        == 200
    )
    assert raw not in viewer_client.get("/account/api-keys/").content.decode()


def test_creating_without_a_name_is_refused(viewer_client):
    response = viewer_client.post("/account/api-keys/", {"name": ""})

    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_revoking_asks_then_revokes(viewer_client, viewer, service):
    key, raw = api_key_create(user=viewer, name="old")
    url = f"/account/api-keys/{key.pk}/revoke/"

    assert "Yes, revoke" in viewer_client.get(url).content.decode()
    assert viewer_client.post(url).status_code == 302

    key.refresh_from_db()
    assert key.revoked_at is not None
    response = api_client_with_key(raw).get(f"/api/v1/services/{service.public_id}/balances")
    assert response.status_code == 401


def test_nobody_can_revoke_someone_elses_key(operator_client, viewer):
    key, _raw = api_key_create(user=viewer, name="theirs")

    assert operator_client.post(f"/account/api-keys/{key.pk}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_the_navigation_links_to_the_page(viewer_client):
    assert 'href="/account/api-keys/"' in viewer_client.get("/services/").content.decode()
