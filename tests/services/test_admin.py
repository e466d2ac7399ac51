"""The Django admin: everything is there for superusers, with search and filters; balances
and their history are read-only there (writes go through the Balances pages); services and
fee profiles are saved and deleted through their actions (validation, audit trail, versions,
refusals shown on the page, never a 500)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry

from balances import actions
from balances.models import BalanceChange
from core.actors import Actor
from services.admin import ServiceAdmin
from services.fees import actions as fee_actions
from services.models import AuditEntry, FeeProfile, Service
from tests.admin_helpers import admin_url, assert_read_only_in_admin
from tests.factories import (
    BalanceFactory,
    FeeProfileFactory,
    ProviderConnectionFactory,
    ServiceFactory,
)

pytestmark = pytest.mark.django_db

SERVICES = "/admin/services/service/"
FEE_PROFILES = "/admin/services/feeprofile/"
BALANCES = "/admin/balances/balance/"
HISTORY = "/admin/balances/balancechange/"


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


# --- services: saved and deleted through their actions ----------------------------------


def service_data(service, **changes) -> dict[str, object]:
    """The admin's change form as it was shown, with ``changes``."""
    return {
        "name": service.name,
        "status": service.status,
        "country": service.country,
        "fee_profile": service.fee_profile_id or "",
        **changes,
    }


def form_errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code
    return response.context["adminform"].form.errors


def admin_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_editing_a_service_in_the_admin_goes_through_its_action(root, superuser):
    service = ServiceFactory(name="Lagos Retail", country="NG")
    response = root.post(
        admin_url(service, "change"),
        service_data(service, name="Lagos   Retail Plus", status="suspended"),
    )
    assert response.status_code == 302
    service.refresh_from_db()
    # The action's rule (runs of spaces become one) ran, and it wrote the audit entry.
    assert (service.name, service.status) == ("Lagos Retail Plus", "suspended")
    entry = AuditEntry.objects.get(service=service)
    assert (entry.action, entry.actor_user, entry.actor_label) == (
        "service_updated",
        superuser,
        superuser.username,
    )
    assert entry.changes == {
        "name": ["Lagos Retail", "Lagos Retail Plus"],
        "status": ["active", "suspended"],
    }


def test_adding_a_service_in_the_admin_goes_through_its_action(root, superuser):
    response = root.post(
        admin_url(Service, "add"),
        {"name": "Accra Shop", "status": "active", "country": "gh", "fee_profile": ""},
    )
    assert response.status_code == 302
    service = Service.objects.get(name="Accra Shop")
    assert service.country == "GH" and service.public_id.startswith("srv_")
    entry = AuditEntry.objects.get(service=service)
    assert (entry.action, entry.actor_user) == ("service_created", superuser)


def test_a_refused_service_edit_is_a_form_error_and_changes_nothing(root):
    service = ServiceFactory(name="Lagos Retail", country="NG")
    response = root.post(
        admin_url(service, "change"), service_data(service, name="Renamed", country="XX")
    )
    errors = form_errors(response)
    assert errors["country"] == ["XX is not an ISO 3166-1 alpha-2 country code."]
    assert "Please correct the error below." in response.content.decode()
    service.refresh_from_db()
    assert (service.name, service.country) == ("Lagos Retail", "NG")
    assert not AuditEntry.objects.exists()
    assert not LogEntry.objects.exists()  # the admin's own log was rolled back too


def test_a_refused_service_add_is_a_form_error(root):
    response = root.post(
        admin_url(Service, "add"),
        {"name": "Nowhere Ltd", "status": "active", "country": "QQ", "fee_profile": ""},
    )
    assert "not an ISO 3166-1 alpha-2 country code" in form_errors(response)["country"][0]
    assert not Service.objects.exists() and not AuditEntry.objects.exists()


def test_giving_a_service_a_fee_profile_in_the_admin_is_audited_on_both_sides(root):
    profile = FeeProfileFactory(name="Standard")
    service = ServiceFactory()
    response = root.post(
        admin_url(service, "change"), service_data(service, fee_profile=profile.pk)
    )
    assert response.status_code == 302
    service.refresh_from_db()
    assert service.fee_profile == profile
    assert set(
        AuditEntry.objects.exclude(action="fee_profile_created").values_list("action", flat=True)
    ) == {"service_updated", "service_assigned"}


def test_deleting_a_service_in_the_admin_goes_through_its_action(root, superuser):
    service = ServiceFactory(name="Closing Ltd")
    # Deleted with the service by the action, although the connection admin is read-only.
    ProviderConnectionFactory(service=service)
    assert "Are you sure" in root.get(admin_url(service, "delete")).content.decode()

    response = root.post(admin_url(service, "delete"), {"post": "yes"})

    assert response.status_code == 302
    assert not Service.objects.filter(pk=service.pk).exists()
    entry = AuditEntry.objects.get(action="service_deleted")
    assert (entry.subject, entry.actor_user) == (f"Closing Ltd ({service.public_id})", superuser)


def test_a_service_the_action_would_not_delete_shows_why_and_stays(root):
    service = ServiceFactory(name="Busy Ltd")
    BalanceFactory(service=service, currency="EUR")
    page = root.get(admin_url(service, "delete")).content.decode()
    assert "it still has 1 balance; delete them first" in page

    response = root.post(admin_url(service, "delete"), {"post": "yes"})

    assert response.status_code == 200  # the same explanation again, nothing deleted
    assert Service.objects.filter(pk=service.pk).exists()
    assert not AuditEntry.objects.filter(action="service_deleted").exists()


def nothing_in_the_way(self, objs, request):
    """What the delete confirmation would see if no blocker existed yet."""
    return [str(obj) for obj in objs], {}, set(), []


def test_a_refusal_only_the_action_sees_is_a_message_not_a_500(root, monkeypatch):
    service = ServiceFactory(name="Busy Ltd")
    BalanceFactory(service=service, currency="EUR")
    # As if the balance arrived between the confirmation page and the POST.
    monkeypatch.setattr(ServiceAdmin, "get_deleted_objects", nothing_in_the_way)

    response = root.post(admin_url(service, "delete"), {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert any("Busy Ltd cannot be deleted" in m for m in admin_messages(response))
    assert Service.objects.filter(pk=service.pk).exists()
    assert not LogEntry.objects.exists()


def test_bulk_delete_goes_through_the_action(root):
    services = [ServiceFactory(name="One"), ServiceFactory(name="Two")]
    response = root.post(
        SERVICES,
        {"action": "delete_selected", "_selected_action": [s.pk for s in services], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Service.objects.exists()
    assert AuditEntry.objects.filter(action="service_deleted").count() == 2


def test_bulk_delete_with_a_blocked_service_deletes_nothing(root, monkeypatch):
    free, busy = ServiceFactory(name="Free"), ServiceFactory(name="Busy")
    BalanceFactory(service=busy, currency="EUR")
    selected = {"action": "delete_selected", "_selected_action": [free.pk, busy.pk]}

    confirmation = root.post(SERVICES, selected).content.decode()
    assert "it still has 1 balance" in confirmation
    assert root.post(SERVICES, {**selected, "post": "yes"}).status_code == 200
    assert Service.objects.count() == 2

    # Found by the action only: all or nothing, and said in words.
    monkeypatch.setattr(ServiceAdmin, "get_deleted_objects", nothing_in_the_way)
    response = root.post(SERVICES, {**selected, "post": "yes"}, follow=True)
    assert response.status_code == 200
    assert any(m.startswith("Nothing was deleted: Busy") for m in admin_messages(response))
    assert Service.objects.count() == 2
    assert not AuditEntry.objects.filter(action="service_deleted").exists()
    assert not LogEntry.objects.exists()


# --- fee profiles: saved and deleted through their actions ------------------------------

EUR_RULE = {"operation": "payout", "currency": "EUR", "percentage": "1.5", "fixed_amount": "0.25"}


def test_adding_a_fee_profile_in_the_admin_goes_through_its_action(root, superuser):
    response = root.post(
        admin_url(FeeProfile, "add"), {"name": "  Premium ", "description": "For the big ones"}
    )
    assert response.status_code == 302
    profile = FeeProfile.objects.get()
    assert (profile.name, profile.version) == ("Premium", 1)
    entry = AuditEntry.objects.get(fee_profile=profile)
    assert (entry.action, entry.actor_user) == ("fee_profile_created", superuser)


def test_editing_a_fee_profile_in_the_admin_bumps_its_version_and_is_audited(root, superuser):
    profile = FeeProfileFactory(name="Standard", rules=[EUR_RULE])
    page = root.get(admin_url(profile, "change")).content.decode()
    assert "1.5 % + 0.25" in page  # the rules are shown (and edited on the profile's page)

    response = root.post(
        admin_url(profile, "change"),
        {"name": "Standard", "description": "New pricing", "expected_version": "1"},
    )

    assert response.status_code == 302
    profile.refresh_from_db()
    assert (profile.description, profile.version) == ("New pricing", 2)
    assert profile.rules.count() == 1
    entry = AuditEntry.objects.get(action="fee_profile_updated")
    assert (entry.actor_user, entry.changes) == (superuser, {"description": ["", "New pricing"]})


def test_a_stale_fee_profile_edit_is_refused_on_the_form(root):
    profile = FeeProfileFactory(name="Standard")
    fee_actions.fee_profile_update(
        profile=profile, actor=Actor.system("colleague"), description="Theirs"
    )

    response = root.post(
        admin_url(profile, "change"),
        {"name": "Standard", "description": "Mine", "expected_version": "1"},
    )

    form = response.context["adminform"].form
    assert "changed by someone else" in form_errors(response)["__all__"][0]
    assert form.data["expected_version"] == "2"  # saving again is based on what is there now
    profile.refresh_from_db()
    assert (profile.description, profile.version) == ("Theirs", 2)


def test_a_fee_profile_name_taken_in_another_case_is_a_form_error(root):
    FeeProfileFactory(name="Standard")
    response = root.post(admin_url(FeeProfile, "add"), {"name": "STANDARD", "description": ""})
    assert form_errors(response)["name"] == ["A fee profile named STANDARD already exists."]
    assert FeeProfile.objects.count() == 1


def test_a_fee_profile_in_use_is_not_deleted_in_the_admin(root):
    profile = FeeProfileFactory(name="Standard")
    ServiceFactory(name="User Ltd", fee_profile=profile)
    assert "it is used by 1 service" in root.get(admin_url(profile, "delete")).content.decode()
    assert root.post(admin_url(profile, "delete"), {"post": "yes"}).status_code == 200
    assert FeeProfile.objects.filter(pk=profile.pk).exists()


def test_deleting_an_unused_fee_profile_in_the_admin_is_audited(root, superuser):
    profile = FeeProfileFactory(name="Old", rules=[EUR_RULE])
    response = root.post(admin_url(profile, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert not FeeProfile.objects.exists()
    entry = AuditEntry.objects.get(action="fee_profile_deleted")
    assert entry.actor_user == superuser and entry.changes["name"] == "Old"


# --- history ------------------------------------------------------------------------------


def test_the_audit_trail_is_read_only_in_the_admin(root):
    service = ServiceFactory()
    entry = AuditEntry.objects.create(
        service=service, subject=service.public_id, action="service_updated", actor_label="x"
    )
    assert_read_only_in_admin(root, entry, {"action": "rewritten", "subject": "x"})


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 403), ("admin", 200)])
def test_the_audit_log_in_the_admin_needs_the_audit_log_permission(client, data, role, status):
    """A staff account of any role may open the admin, but the whole audit log, as on
    /audit/, is for those who may read it (admins); a viewer sees services' own history."""
    from services.actions import service_update
    from tests.factories import UserFactory

    service_update(service=data["lagos"], actor=Actor.system("tests"), name="Lagos Retail Ltd")
    user = UserFactory(username=f"staff-{role}", role=role, is_staff=True)
    client.force_login(user)
    assert client.get("/admin/services/auditentry/").status_code == status
    entry = AuditEntry.objects.first()
    assert client.get(admin_url(entry, "change")).status_code in (
        (302, 403) if status == 403 else (200,)
    )
    index = client.get("/admin/").content.decode()
    assert ("/admin/services/auditentry/" in index) == (status == 200)
