"""The Django admin: everything is there for superusers, with search and filters; balances
and their history are read-only there (writes go through the Balances pages)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from balances import actions
from balances.models import BalanceChange
from core.actors import Actor
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = pytest.mark.django_db

SERVICES = "/admin/services/service/"
BALANCES = "/admin/balances/balance/"
HISTORY = "/admin/balances/balancechange/"


@pytest.fixture
def root(superuser):
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def data():
    lagos = ServiceFactory(name="Lagos Retail", country="NG")
    berlin = ServiceFactory(name="Berlin Marketplace", country="DE", status="suspended")
    actor = Actor.system("admin-test")
    actions.balance_create(service=lagos, currency="NGN", amount="450000", actor=actor)
    actions.balance_create(service=berlin, currency="EUR", amount="12500.75", actor=actor)
    actions.balance_update(
        service=berlin,
        currency="EUR",
        amount="12850.75",
        expected_version=1,
        actor=actor,
        reason="Settlement batch",
    )
    return {"lagos": lagos, "berlin": berlin}


def result_rows(response) -> int:
    return response.context["cl"].result_count


@pytest.mark.parametrize("url", [SERVICES, BALANCES, HISTORY])
def test_superuser_opens_the_changelists(root, data, url):
    response = root.get(url)
    assert response.status_code == 200
    assert result_rows(response) >= 2


def test_services_search_by_name_or_id_and_filter_by_status_and_country(root, data):
    berlin = data["berlin"]
    assert result_rows(root.get(SERVICES, {"q": "berlin"})) == 1
    assert result_rows(root.get(SERVICES, {"q": berlin.public_id})) == 1
    assert result_rows(root.get(SERVICES, {"status__exact": "suspended"})) == 1
    assert result_rows(root.get(SERVICES, {"country__exact": "NG"})) == 1
    assert result_rows(root.get(SERVICES, {"q": "nowhere"})) == 0


def test_service_admin_shows_the_public_id_read_only(root, data):
    berlin = data["berlin"]
    page = root.get(f"{SERVICES}{berlin.pk}/change/").content.decode()
    assert berlin.public_id in page
    assert 'name="public_id"' not in page
    root.post(
        f"{SERVICES}{berlin.pk}/change/",
        {"name": "Berlin", "status": "active", "country": "DE", "public_id": "srv_hijacked"},
    )
    berlin.refresh_from_db()
    assert berlin.public_id != "srv_hijacked"


def test_balances_search_and_filter(root, data):
    assert result_rows(root.get(BALANCES, {"q": "lagos"})) == 1
    assert result_rows(root.get(BALANCES, {"q": data["berlin"].public_id})) == 1
    assert result_rows(root.get(BALANCES, {"currency__exact": "EUR"})) == 1
    assert result_rows(root.get(BALANCES, {"updated_by_type__exact": "system"})) == 2


def test_history_search_and_filter(root, data):
    assert result_rows(root.get(HISTORY, {"q": "Settlement"})) == 1
    assert result_rows(root.get(HISTORY, {"kind__exact": "updated"})) == 1
    assert result_rows(root.get(HISTORY, {"kind__exact": "created"})) == 2
    assert result_rows(root.get(HISTORY, {"currency__exact": "NGN"})) == 1
    assert result_rows(root.get(HISTORY, {"q": data["lagos"].public_id})) == 1


@pytest.mark.parametrize("url", [BALANCES, HISTORY])
def test_balances_and_history_are_read_only_in_the_admin(root, data, url):
    obj = (
        BalanceChange.objects.filter(kind="updated").get()
        if url == HISTORY
        else data["berlin"].balances.get()
    )
    changelist = root.get(url).content.decode()
    assert f'href="{url}add/"' not in changelist
    assert "delete_selected" not in changelist

    assert root.get(f"{url}add/").status_code == 403
    assert root.get(f"{url}{obj.pk}/delete/").status_code == 403
    assert root.post(f"{url}{obj.pk}/delete/", {"post": "yes"}).status_code == 403

    detail = root.get(f"{url}{obj.pk}/change/")
    assert detail.status_code == 200  # viewable ...
    html = detail.content.decode()
    assert 'name="_save"' not in html  # ... but there is nothing to save
    root.post(f"{url}{obj.pk}/change/", {"reason": "rewritten", "available": "1"})
    obj.refresh_from_db()
    if url == HISTORY:
        assert obj.reason == "Settlement batch"
    else:
        assert obj.available == Decimal("12850.75")


def test_role_users_are_not_admin_staff(clients, service):
    response = clients["admin"].get(SERVICES)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_superuser_may_use_every_back_office_page(root, data):
    # Superusers hold every permission: the buttons are there for them as well.
    page = root.get(f"/services/{data['berlin'].public_id}/balances/").content.decode()
    assert "New balance" in page and ">Edit<" in page and ">Delete<" in page


def test_balance_admin_lists_balances_of_every_service(root):
    for i in range(3):
        BalanceFactory(service=ServiceFactory(name=f"S{i}"), currency="USD")
    assert result_rows(root.get(BALANCES)) == 3
