"""core.auth_backend: a user's permissions and groups in one query per request, and a change
of role or permission applies at the latest on the user's next request."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from core.auth_backend import group_names
from tests.factories import ServiceFactory, UserFactory


def balances_url(service) -> str:
    return f"/services/{service.public_id}/balances/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def badges(page: str) -> str:
    return page.split('<div class="topbar-user">', 1)[1].split("</form>", 1)[0]


def test_permissions_and_groups_are_read_in_one_query(db, django_assert_num_queries):
    user = UserFactory(username="both", role="operator")
    user.groups.add(Group.objects.get_or_create(name="night shift")[0])
    user.user_permissions.add(Permission.objects.get(codename="view_audit_log"))

    fresh = type(user).objects.get(pk=user.pk)
    with django_assert_num_queries(1):
        assert fresh.has_perm("balances.change_balance")  # through the operator group
        assert fresh.has_perm("services.view_audit_log")  # their own
        assert not fresh.has_perm("services.delete_service")
        assert fresh.get_user_permissions() == {"services.view_audit_log"}
        assert "balances.change_balance" in fresh.get_group_permissions()
        assert group_names(fresh) == ["night shift", "operator"]


def test_a_group_without_permissions_is_still_shown(db):
    user = UserFactory(username="shift")
    user.groups.add(Group.objects.get_or_create(name="night shift")[0])
    page = signed_in(user).get("/services/").content.decode()
    assert '<span class="badge">night shift</span>' in badges(page)


def test_the_top_bar_names_the_groups_of_the_user(db):
    user = UserFactory(username="two-roles", role="viewer")
    user.groups.add(Group.objects.get(name="approver"))
    page = signed_in(user).get("/services/").content.decode()
    assert badges(page).count('<span class="badge">') == 2
    assert '<span class="badge">approver</span>' in badges(page)
    assert '<span class="badge">viewer</span>' in badges(page)


def test_a_user_taken_out_of_a_group_loses_its_permissions_on_the_next_request(db):
    service = ServiceFactory()
    user = UserFactory(username="moved", role="operator")
    client = signed_in(user)
    page = client.get(balances_url(service)).content.decode()
    assert "New balance" in page and '<span class="badge">operator</span>' in page

    user.groups.clear()
    user.groups.add(Group.objects.get(name="viewer"))
    page = client.get(balances_url(service)).content.decode()
    assert "New balance" not in page  # the button goes with the permission
    assert '<span class="badge">viewer</span>' in page and ">operator<" not in page
    assert client.get(balances_url(service) + "add/").status_code == 403

    user.groups.clear()
    assert client.get(balances_url(service)).status_code == 403


def test_a_permission_given_to_the_user_applies_on_the_next_request(db):
    service = ServiceFactory()
    user = UserFactory(username="grown")
    client = signed_in(user)
    assert client.get(balances_url(service)).status_code == 403
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_service", "view_balance"],
            content_type__app_label__in=["services", "balances"],
        )
    )
    assert client.get(balances_url(service)).status_code == 200


def test_a_permission_taken_from_a_group_applies_to_its_members_on_the_next_request(db):
    service = ServiceFactory()
    client = signed_in(UserFactory(username="member", role="operator"))
    assert client.get(balances_url(service) + "add/").status_code == 200
    operators = Group.objects.get(name="operator")
    operators.permissions.remove(Permission.objects.get(codename="add_balance"))
    assert client.get(balances_url(service) + "add/").status_code == 403


def test_an_inactive_user_has_no_permission(db):
    user = UserFactory(username="gone", role="admin")
    user.is_active = False
    assert not user.has_perm("balances.view_balance")
    assert user.get_all_permissions() == set()


@pytest.mark.parametrize("role", [None, "viewer"])
def test_a_superuser_may_do_everything_and_sees_their_groups(db, role):
    user = UserFactory(username="root", is_superuser=True, is_staff=True, role=role)
    assert user.has_perm("services.delete_service")
    assert "services.delete_service" in user.get_all_permissions()
    assert group_names(user) == ([role] if role else [])
    page = signed_in(user).get("/services/").content.decode()
    assert '<span class="badge">superuser</span>' in badges(page)


def test_a_superusers_groups_cost_one_query_not_every_permission(db, django_assert_num_queries):
    user = UserFactory(username="root2", is_superuser=True, role="viewer")
    fresh = type(user).objects.get(pk=user.pk)
    with django_assert_num_queries(1):
        assert group_names(fresh) == ["viewer"]
        assert fresh.has_perm("services.delete_service")  # without looking


@pytest.mark.django_db(databases=["default", "sqlite"])
@pytest.mark.parametrize("alias", ["default", "sqlite"])
def test_the_one_query_reads_the_same_on_both_databases(alias):
    from tests.core.test_money_storage import default_connection

    with default_connection(alias):
        user = UserFactory(username=f"on-{alias}", role="operator")
        user.user_permissions.add(Permission.objects.get(codename="view_audit_log"))
        fresh = type(user).objects.get(pk=user.pk)
        assert fresh.get_user_permissions() == {"services.view_audit_log"}
        assert fresh.has_perm("balances.change_balance")
        assert group_names(fresh) == ["operator"]
