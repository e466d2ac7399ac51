"""GET|POST /services, GET|PATCH|DELETE /services/{serviceId}."""

from __future__ import annotations

import pytest

from services.models import AuditEntry, Service
from tests.config.helpers import assert_error, body, send
from tests.factories import BalanceFactory, FeeProfileFactory, ServiceFactory

pytestmark = pytest.mark.django_db

SERVICE_FIELDS = [
    "serviceId",
    "name",
    "country",
    "status",
    "feeProfileId",
    "providerKind",
    "createdAt",
    "updatedAt",
]


def test_create_returns_201_with_the_service_id(admin_api, admin):
    response = send(
        admin_api, "post", "/api/v1/services", {"name": "  Acme  Pay ", "country": "ng"}
    )

    assert response.status_code == 201
    data = body(response)
    service = Service.objects.get()
    assert data["serviceId"] == service.public_id and data["serviceId"].startswith("srv_")
    assert list(data) == SERVICE_FIELDS
    assert (data["name"], data["country"], data["status"]) == ("Acme Pay", "NG", "active")
    assert response["Location"].endswith(f"/api/v1/services/{service.public_id}")
    entry = AuditEntry.objects.get(object_type="service")
    assert entry.actor_user == admin and entry.via.startswith("key:")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "X", "country": "ZZ"}, "country"),
        ({"name": "", "country": "NG"}, "name"),
        ({"country": "NG"}, "name"),
        ({"name": "X"}, "country"),
        ({"name": "X", "country": "NG", "status": "gone"}, "status"),
        ({"name": "x" * 201, "country": "NG"}, "name"),
    ],
)
def test_create_with_bad_input_is_a_400_naming_the_field(admin_api, payload, field):
    error = assert_error(send(admin_api, "post", "/api/v1/services", payload), 400)

    assert field in error["details"]
    assert not Service.objects.exists()


def test_list_is_paginated_with_figures(viewer_api):
    first = ServiceFactory(name="Alpha")
    BalanceFactory(service=first, currency="EUR")
    BalanceFactory(service=first, currency="USD")
    ServiceFactory(name="Beta")

    data = body(viewer_api.get("/api/v1/services", {"pageSize": 1}))

    assert data["count"] == 2 and data["next"] and data["previous"] is None
    (item,) = data["results"]
    assert (item["serviceId"], item["name"], item["balanceCount"]) == (first.public_id, "Alpha", 2)
    assert item["lastSyncStatus"] is None and item["providerKind"] is None


def test_list_search_matches_name_or_id(viewer_api):
    wanted = ServiceFactory(name="Needle Ltd")
    ServiceFactory(name="Haystack")

    data = body(viewer_api.get("/api/v1/services", {"search": "needle"}))

    assert [s["serviceId"] for s in data["results"]] == [wanted.public_id]


def test_an_invalid_page_is_a_404_in_the_envelope(viewer_api):
    assert_error(viewer_api.get("/api/v1/services", {"page": 99}), 404, "not_found")


def test_list_query_count_does_not_depend_on_the_number_of_services(
    viewer_api, django_assert_num_queries
):
    ServiceFactory()
    viewer_api.get("/api/v1/services")  # records the key's last use

    def count() -> int:
        # 1 key + user; 2 permissions; 3 the count; 4 the page with balance counts, last
        # change and last sync run annotated and the provider connection joined.
        with django_assert_num_queries(4):
            response = viewer_api.get("/api/v1/services")
        return len(body(response)["results"])

    assert count() == 1
    for _ in range(15):
        BalanceFactory(service=ServiceFactory(), currency="EUR")
    assert count() == 16


def test_get_one(viewer_api, service):
    data = body(viewer_api.get(f"/api/v1/services/{service.public_id}"))

    assert list(data) == SERVICE_FIELDS
    assert data["name"] == "Acme Payments"


def test_get_unknown_is_a_404(viewer_api):
    assert_error(viewer_api.get("/api/v1/services/srv_unknown"), 404, "not_found")


def test_patch_changes_only_the_given_fields(admin_api, service):
    response = send(
        admin_api,
        "patch",
        f"/api/v1/services/{service.public_id}",
        {"name": "Renamed", "status": "suspended"},
    )

    assert response.status_code == 200
    service.refresh_from_db()
    assert (service.name, service.status, service.country) == ("Renamed", "suspended", "NG")


def test_patch_sets_and_removes_the_fee_profile(admin_api, service):
    profile = FeeProfileFactory(name="Standard")
    url = f"/api/v1/services/{service.public_id}"

    assert body(send(admin_api, "patch", url, {"feeProfileId": profile.pk}))["feeProfileId"] == (
        profile.pk
    )
    service.refresh_from_db()
    assert service.fee_profile == profile

    assert body(send(admin_api, "patch", url, {"feeProfileId": None}))["feeProfileId"] is None
    service.refresh_from_db()
    assert service.fee_profile is None


def test_patch_with_an_unknown_fee_profile_is_a_400_naming_it(admin_api, service):
    response = send(
        admin_api, "patch", f"/api/v1/services/{service.public_id}", {"feeProfileId": 999999}
    )

    assert "feeProfileId" in assert_error(response, 400, "validation_error")["details"]


def test_patch_with_a_bad_country_is_a_400(admin_api, service):
    response = send(admin_api, "patch", f"/api/v1/services/{service.public_id}", {"country": "QQ"})

    assert "country" in assert_error(response, 400)["details"]


def test_delete_is_a_204(admin_api, service):
    assert admin_api.delete(f"/api/v1/services/{service.public_id}").status_code == 204
    assert not Service.objects.exists()


def test_delete_with_balances_is_a_409_with_reasons(admin_api, eur_balance):
    response = admin_api.delete(f"/api/v1/services/{eur_balance.service.public_id}")

    assert assert_error(response, 409, "not_deletable")["details"]["reasons"]
    assert Service.objects.exists()
