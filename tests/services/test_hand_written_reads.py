"""The reads every API request makes, hand-written (core.rawsql): the key with its user, the
user's permissions, the service of a payout.  They give what the ORM gives, and nothing is
kept between requests: a key revoked, a user deactivated or a role changed after a request
that succeeded is refused or applied from the very next request."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.db.models import Model

from core.auth_backend import load_user_permissions
from core.errors import NotFound
from services.accounts.actions import api_key_create, api_key_revoke, hash_key
from services.accounts.auth import key_with_user
from services.models import ApiKey, Service
from services.queries import service_get_alone
from tests.config.helpers import assert_error
from tests.conftest import api_client_with_key
from tests.factories import BalanceFactory, FeeProfileFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def values(obj: Model) -> dict:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def payouts_url(service) -> str:
    return f"/api/v1/services/{service.public_id}/payouts"


def balances_url(service) -> str:
    return f"/api/v1/services/{service.public_id}/balances"


def test_the_key_and_its_user_are_what_the_orm_reads(viewer, django_assert_num_queries):
    key, raw = api_key_create(user=viewer, name="script", read_only=True)
    api_key_revoke(user=viewer, key_id=key.pk)  # a datetime set, to compare
    expected = ApiKey.objects.select_related("user").get(pk=key.pk)

    with django_assert_num_queries(1):
        found = key_with_user(hash_key(raw))
        assert found is not None
        assert found.user.pk == viewer.pk  # joined: no query of its own

    assert values(found) == values(expected)
    assert values(found.user) == values(expected.user)
    assert found._state.adding is False and found._state.db == "default"
    assert key_with_user(hash_key(raw + "x")) is None


def test_the_permissions_are_what_the_orm_reads(nobody):
    nobody.user_permissions.add(Permission.objects.get(codename="view_audit_log"))
    readers = Group.objects.create(name="readers")
    readers.permissions.add(
        *Permission.objects.filter(codename__in=["view_balance", "view_service"])
    )
    nobody.groups.add(readers, Group.objects.create(name="empty group"))

    load_user_permissions(nobody)

    assert nobody._user_perm_cache == {"services.view_audit_log"}
    assert nobody._group_perm_cache == {"balances.view_balance", "services.view_service"}
    assert nobody._perm_cache == nobody._user_perm_cache | nobody._group_perm_cache
    assert nobody._group_names_cache == ["empty group", "readers"]


def test_a_key_that_just_worked_is_refused_once_revoked(viewer, service):
    key, raw = api_key_create(user=viewer, name="script")
    client = api_client_with_key(raw)
    assert client.get(balances_url(service)).status_code == 200

    api_key_revoke(user=viewer, key_id=key.pk)

    assert_error(client.get(balances_url(service)), 401, "authentication_failed")


def test_a_key_that_just_worked_is_refused_once_its_user_is_deactivated(viewer, service):
    _key, raw = api_key_create(user=viewer, name="script")
    client = api_client_with_key(raw)
    assert client.get(balances_url(service)).status_code == 200

    viewer.is_active = False
    viewer.save(update_fields=["is_active"])

    assert_error(client.get(balances_url(service)), 401, "authentication_failed")


def test_a_role_taken_away_applies_to_the_keys_next_payout(operator):
    service = ServiceFactory(fee_profile=FeeProfileFactory(name="Bare"))
    BalanceFactory(service=service, currency="EUR", available=Decimal("1000.00"))
    client = api_client_with_key(api_key_create(user=operator, name="script")[1])
    body = {"currency": "EUR", "amount": "10.00", "destination": "IBAN DE00"}
    assert (
        client.post(payouts_url(service), body, content_type="application/json").status_code == 201
    )

    operator.groups.set([Group.objects.get(name="viewer")])

    refused = client.post(payouts_url(service), body, content_type="application/json")
    assert_error(refused, 403, "permission_denied")


def test_the_service_alone_is_what_the_orm_reads(django_assert_num_queries):
    service = ServiceFactory(fee_profile=FeeProfileFactory(name="Standard"))

    with django_assert_num_queries(1):
        found = service_get_alone(service.public_id)

    assert values(found) == values(Service.objects.get(pk=service.pk))
    assert found.fee_profile.name == "Standard"  # relations load on first access
    with pytest.raises(NotFound):
        service_get_alone("srv_missing")


def test_a_payout_for_an_unknown_service_is_a_404(operator_api):
    response = operator_api.post(
        "/api/v1/services/srv_missing/payouts",
        {"currency": "EUR", "amount": "10.00", "destination": "IBAN DE00"},
        content_type="application/json",
    )
    assert_error(response, 404, "not_found")
