"""Authentication (Bearer keys, sessions with CSRF), read-only keys, throttling."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from services.accounts.actions import api_key_create, api_key_revoke
from services.models import ApiKey
from tests.config.helpers import assert_error, send
from tests.conftest import api_client_with_key

pytestmark = pytest.mark.django_db


def balances_url(service) -> str:
    return f"/api/v1/services/{service.public_id}/balances"


def test_a_valid_key_authenticates_and_records_its_use(viewer, service):
    key, raw = api_key_create(user=viewer, name="script")
    assert key.last_used_at is None

    response = api_client_with_key(raw).get(balances_url(service))

    assert response.status_code == 200
    key.refresh_from_db()
    assert timezone.now() - key.last_used_at < timedelta(seconds=10)


def test_last_use_is_written_at_most_once_a_minute(viewer, service, django_assert_num_queries):
    key, raw = api_key_create(user=viewer, name="script")
    client = api_client_with_key(raw)
    client.get(balances_url(service))
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))

    # 1 key + user; 2 its permissions (own and groups', one UNION); 3 UPDATE last_used_at
    # (older than a minute); 4 service; 5 balances (with what payouts hold).
    with django_assert_num_queries(5):
        client.get(balances_url(service))
    # The same without the UPDATE.
    with django_assert_num_queries(4):
        client.get(balances_url(service))


def test_a_revoked_key_is_refused(viewer, service):
    key, raw = api_key_create(user=viewer, name="script")
    api_key_revoke(user=viewer, key_id=key.pk)

    response = api_client_with_key(raw).get(balances_url(service))

    assert_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_the_key_of_an_inactive_user_is_refused(viewer, service):
    _key, raw = api_key_create(user=viewer, name="script")
    viewer.is_active = False
    viewer.save()

    assert_error(api_client_with_key(raw).get(balances_url(service)), 401)


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Basic dXNlcjpwYXNz", "Token abc", "Bearer \u00e9"],
)
def test_malformed_authorization_headers_are_401(service, header):
    response = Client(headers={"Authorization": header}).get(balances_url(service))

    assert_error(response, 401, "authentication_failed")


def test_a_key_acts_with_its_owners_role(viewer_api, service):
    response = send(viewer_api, "post", balances_url(service), {"currency": "EUR"})
    assert_error(response, 403, "permission_denied")


@pytest.mark.parametrize(
    ("method", "suffix", "data"),
    [
        ("post", "", {"currency": "USD"}),
        ("patch", "/EUR", {"amount": "1", "reason": "r"}),
        ("delete", "/EUR", None),
        ("post", "/sync", None),
    ],
)
def test_a_read_only_key_can_read_but_never_write(read_only_api, eur_balance, method, suffix, data):
    url = balances_url(eur_balance.service)
    assert read_only_api.get(url).status_code == 200

    assert_error(send(read_only_api, method, url + suffix, data), 403, "read_only_key")

    eur_balance.refresh_from_db()
    assert eur_balance.version == 1


def test_keys_never_reach_responses_or_logs(caplog, viewer, service):
    _key, raw = api_key_create(user=viewer, name="script")
    wrong = raw[:-4] + "AAAA"
    with caplog.at_level(logging.DEBUG):
        ok = api_client_with_key(raw).get(balances_url(service))
        refused = api_client_with_key(wrong).get(balances_url(service))

    assert refused.status_code == 401
    for secret in (raw, wrong):
        assert secret.encode() not in ok.content + refused.content
        assert secret not in caplog.text


# --- Sessions (the browsable API) ------------------------------------------------------------


def test_session_auth_reads_and_the_browsable_api_renders(operator_client, service):
    assert operator_client.get(balances_url(service)).status_code == 200

    page = operator_client.get(balances_url(service), HTTP_ACCEPT="text/html")

    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")


def test_session_writes_need_the_csrf_token(operator, service):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)

    refused = send(client, "post", balances_url(service), {"currency": "EUR"})
    assert "CSRF" in assert_error(refused, 403, "permission_denied")["message"]

    client.get("/account/api-keys/")  # any page with a form sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = send(
        client, "post", balances_url(service), {"currency": "EUR"}, HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 201


def test_a_session_user_without_a_role_is_403(nobody_client, service):
    assert_error(nobody_client.get(balances_url(service)), 403, "permission_denied")


# --- Throttling ------------------------------------------------------------------------------


@pytest.fixture
def tight_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"apikey": "3/min", "anon": "2/min"},
    }


def test_each_key_has_its_own_budget(tight_rates, viewer, service):
    first = api_client_with_key(api_key_create(user=viewer, name="a")[1])
    second = api_client_with_key(api_key_create(user=viewer, name="b")[1])
    for _ in range(3):
        assert first.get(balances_url(service)).status_code == 200

    assert_error(first.get(balances_url(service)), 429, "throttled")
    assert second.get(balances_url(service)).status_code == 200


def test_anonymous_callers_are_limited_per_ip(tight_rates, service):
    here = Client(REMOTE_ADDR="10.0.0.1")
    there = Client(REMOTE_ADDR="10.0.0.2")
    for _ in range(2):
        assert_error(here.get(balances_url(service)), 401)

    response = here.get(balances_url(service))

    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1
    assert_error(there.get(balances_url(service)), 401)


def test_bad_keys_count_against_the_callers_ip(tight_rates, service):
    guesser = Client(
        REMOTE_ADDR="10.0.0.3", headers={"Authorization": "Bearer " + "bo_" + "y" * 43}
    )
    for _ in range(2):
        assert_error(guesser.get(balances_url(service)), 401)

    assert_error(guesser.get(balances_url(service)), 429, "throttled")


def test_an_authenticated_key_is_not_held_to_the_anonymous_rate(tight_rates, viewer_api, service):
    # 3 requests: over the anonymous budget (2), within the key's (3).
    for _ in range(3):
        assert viewer_api.get(balances_url(service)).status_code == 200


def test_permissions_come_from_the_user_and_their_groups_and_apply_at_once(nobody, service):
    from django.contrib.auth.models import Group, Permission

    _key, raw = api_key_create(user=nobody, name="script")
    client = api_client_with_key(raw)
    assert_error(client.get(balances_url(service)), 403)

    # Own permission + a group's permission: both count.
    nobody.user_permissions.add(Permission.objects.get(codename="view_service"))
    group = Group.objects.create(name="balance readers")
    group.permissions.add(Permission.objects.get(codename="view_balance"))
    nobody.groups.add(group)
    assert client.get(balances_url(service)).status_code == 200

    nobody.groups.remove(group)
    assert_error(client.get(balances_url(service)), 403)


def test_any_key_whose_hash_is_stored_is_accepted(viewer, service):
    # Keys may come from elsewhere (an import, the admin); only the SHA-256 is compared.
    import hashlib

    ApiKey.objects.create(
        user=viewer, name="imported", prefix="legacy-k",
        key_hash=hashlib.sha256(b"legacy-key-123").hexdigest(),
    )  # fmt: skip

    assert api_client_with_key("legacy-key-123").get(balances_url(service)).status_code == 200
    assert_error(api_client_with_key("x" * 300).get(balances_url(service)), 401)


def test_without_redis_the_cache_based_throttle_still_limits(
    tight_rates, settings, viewer_api, service
):
    settings.USE_REDIS = False  # the embedded set-up
    for _ in range(3):
        assert viewer_api.get(balances_url(service)).status_code == 200

    response = viewer_api.get(balances_url(service))

    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1


def test_the_api_stays_up_when_the_throttle_store_is_down(
    tight_rates, settings, viewer_api, service
):
    from core import redis as shared_redis

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    shared_redis.reset_clients()
    try:
        for _ in range(4):  # over the budget, but nothing can count it
            assert viewer_api.get(balances_url(service)).status_code == 200
    finally:
        shared_redis.reset_clients()
