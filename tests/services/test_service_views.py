"""Services pages: the list (search, pagination, counts, row actions), details, and the admin
role's New / Edit / Delete — for every role, with their error paths and CSRF."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from services.models import AuditEntry, Service
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "nobody", "viewer", "operator", "admin"]
READERS = {"viewer", "operator", "admin"}
ADMINS = {"admin"}
PUBLIC_ID = re.compile(r"^srv_[a-z0-9]+$")


def rows(response) -> dict[str, str]:
    """Table row HTML per service id, in page order."""
    html = response.content.decode()
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return {
        re.search(r"(srv_[a-z0-9]+)", row).group(1): row
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    }


def _state():
    return sorted(Service.objects.values_list("public_id", "name", "country", "status"))


# --- who may do what ---------------------------------------------------------------------

VIEWS = [
    # (path with {id}, methods, roles allowed, POST data a forger would send)
    ("/services/", ["GET"], READERS, None),
    ("/services/{id}/", ["GET"], READERS, None),
    ("/services/{id}/history/", ["GET"], READERS, None),
    (
        "/services/add/",
        ["GET", "POST"],
        ADMINS,
        {"name": "Forged", "country": "DE", "status": "active"},
    ),
    (
        "/services/{id}/edit/",
        ["GET", "POST"],
        ADMINS,
        {"name": "Forged", "country": "DE", "status": "closed"},
    ),
    ("/services/{id}/delete/", ["GET", "POST"], ADMINS, {}),
]
MATRIX = [
    pytest.param(path, method, role, role in allowed, data, id=f"{method}-{path}-{role}")
    for path, methods, allowed, data in VIEWS
    for method in methods
    for role in ROLES
]


@pytest.mark.parametrize(("template", "method", "role", "allowed", "data"), MATRIX)
def test_every_service_view_for_every_role(clients, service, template, method, role, allowed, data):
    path = template.format(id=service.public_id)
    before = _state()
    client = clients[role]

    response = client.get(path) if method == "GET" else client.post(path, data)

    if role == "anonymous":
        assert response.status_code == 302
        parts = urlsplit(response["Location"])
        assert parts.path == "/accounts/login/"
        assert parse_qs(parts.query)["next"] == [path]
    elif not allowed:
        assert response.status_code == 403
    elif method == "GET":
        assert response.status_code == 200
    else:
        assert response.status_code == 302
    if method == "POST" and not allowed:
        assert _state() == before


def test_the_home_page_is_the_overview_behind_the_login(clients):
    response = clients["anonymous"].get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=/"
    response = clients["viewer"].get("/")
    assert response.status_code == 200
    assert "<h1>Overview</h1>" in response.content.decode()


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_see_new_edit_and_delete_service_buttons(clients, service, role):
    listing = clients[role].get("/services/").content.decode()
    details = clients[role].get(f"/services/{service.public_id}/").content.decode()
    assert "New service" not in listing
    assert f"/services/{service.public_id}/edit/" not in listing
    assert f"/services/{service.public_id}/edit/" not in details
    assert f"/services/{service.public_id}/delete/" not in details


def test_admins_see_new_edit_and_delete_service_buttons(admin_client_role, service):
    listing = admin_client_role.get("/services/").content.decode()
    details = admin_client_role.get(f"/services/{service.public_id}/").content.decode()
    assert 'href="/services/add/">New service</a>' in listing
    assert f'href="/services/{service.public_id}/edit/">Edit</a>' in listing
    assert f'href="/services/{service.public_id}/edit/">Edit</a>' in details
    assert f'href="/services/{service.public_id}/delete/">Delete</a>' in details


# --- list --------------------------------------------------------------------------------


def test_list_shows_id_name_status_country_balance_count_and_row_actions(viewer_client):
    service = ServiceFactory(name="Berlin Marketplace", country="DE", status="suspended")
    for code in ("EUR", "GBP", "USD"):
        BalanceFactory(service=service, currency=code)
    ServiceFactory(name="Empty Co")

    found = rows(viewer_client.get("/services/"))

    row = found[service.public_id]
    assert "Berlin Marketplace" in row
    assert "Suspended" in row
    assert ">DE<" in row and 'title="Germany"' in row
    assert '<td class="num" data-label="Balances">3</td>' in row
    assert f'href="/services/{service.public_id}/balances/">Balances</a>' in row
    assert f'href="/services/{service.public_id}/">Details</a>' in row
    # Last change: the newest balance change, newer than the service's own.
    last = max(service.balances.values_list("updated_at", flat=True))
    assert f'<time datetime="{last.isoformat()}"' in row
    [empty] = [r for sid, r in found.items() if sid != service.public_id]
    assert '<td class="num" data-label="Balances">0</td>' in empty


def test_list_is_sorted_by_name(viewer_client):
    ServiceFactory(name="Zulu")
    ServiceFactory(name="Alpha")
    ServiceFactory(name="Mike")
    found = rows(viewer_client.get("/services/")).values()
    # Each row links the service id, then its name, to the details page.
    names = [re.findall(r'<a href="/services/[^/"]+/">([^<]+)</a>', r)[1] for r in found]
    assert names == ["Alpha", "Mike", "Zulu"]


@pytest.mark.parametrize("term", ["lagos", "LAGOS RET", "  Retail "])
def test_search_by_name(viewer_client, term):
    lagos = ServiceFactory(name="Lagos Retail")
    ServiceFactory(name="Tokyo Games")
    response = viewer_client.get("/services/", {"q": term})
    assert list(rows(response)) == [lagos.public_id]


def test_search_by_service_id_whole_or_part(viewer_client):
    one, other = ServiceFactory(), ServiceFactory()
    assert list(rows(viewer_client.get("/services/", {"q": one.public_id}))) == [one.public_id]
    part = other.public_id[4:12]
    assert other.public_id in rows(viewer_client.get("/services/", {"q": part}))


def test_a_search_without_results_says_so(viewer_client, service):
    html = viewer_client.get("/services/", {"q": "nothing-like-this"}).content.decode()
    assert "No service matches “nothing-like-this”." in html
    assert "Clear" in html


def test_the_list_without_services_says_how_to_start(clients):
    assert "There are no services yet." in clients["viewer"].get("/services/").content.decode()
    admin_html = clients["admin"].get("/services/").content.decode()
    assert "Create the first one with <strong>New service</strong>." in admin_html


def test_list_is_paginated_25_a_page_and_keeps_the_search(viewer_client):
    for i in range(30):
        ServiceFactory(name=f"Shop {i:02d}")
    ServiceFactory(name="Other")

    first = viewer_client.get("/services/", {"q": "shop"})
    second = viewer_client.get("/services/", {"q": "shop", "page": "2"})

    assert len(rows(first)) == 25
    assert len(rows(second)) == 5
    assert not set(rows(first)) & set(rows(second))
    html = first.content.decode()
    assert "Page 1 of 2 · 30 in all" in html
    assert 'href="?q=shop&amp;page=2"' in html
    assert "Page 2 of 2" in second.content.decode()
    # An out-of-range or nonsense page number shows a real page rather than failing.
    assert len(rows(viewer_client.get("/services/", {"q": "shop", "page": "99"}))) == 5
    assert len(rows(viewer_client.get("/services/", {"q": "shop", "page": "x"}))) == 25


@pytest.mark.parametrize("count", [1, 25])
def test_the_list_costs_the_same_queries_for_1_or_25_services(
    viewer_client, django_assert_num_queries, count
):
    for i in range(count):
        service = ServiceFactory(name=f"S{i:02d}")
        BalanceFactory(service=service, currency="EUR")
    # 1 session, 2 user, 3 the user's permissions and groups (one UNION), 4 count for the
    # paginator, 5 the page of services with balance count, last change, last sync run and
    # connection, 6 the open alerts count in the navigation (counted into the cache, empty at
    # the start of a test).
    with django_assert_num_queries(6):
        response = viewer_client.get("/services/")
    assert len(rows(response)) == count


# --- details -----------------------------------------------------------------------------


def test_details_show_the_service_and_link_to_balances(viewer_client):
    service = ServiceFactory(name="Tokyo Games", country="JP")
    BalanceFactory(service=service, currency="JPY", available=Decimal("1250000"))
    html = viewer_client.get(f"/services/{service.public_id}/").content.decode()
    assert "<h1>Tokyo Games</h1>" in html
    assert "Japan (JP)" in html
    assert service.public_id in html
    assert '<span class="amount">1,250,000</span>' in html
    assert f'href="/services/{service.public_id}/balances/">Balances</a>' in html
    assert f'href="/services/{service.public_id}/balances/">Open Balances</a>' in html


def test_details_of_an_unknown_service_is_404(viewer_client, service):
    assert viewer_client.get("/services/srv_unknown000000/").status_code == 404
    assert viewer_client.get(f"/services/{service.pk}/").status_code == 404


@pytest.mark.parametrize("path", ["/services/srv_x%00/", "/services/srv_x%00/balances/"])
def test_a_nul_byte_in_the_service_id_is_404_not_a_server_error(viewer_client, path):
    viewer_client.raise_request_exception = False
    assert viewer_client.get(path).status_code == 404


# --- New / Edit / Delete service -----------------------------------------------------------


def test_admin_creates_a_service(admin_client_role, admin):
    response = admin_client_role.post(
        "/services/add/",
        {"name": "  Nairobi   Tickets ", "country": "KE", "status": "active"},
        follow=True,
    )
    service = Service.objects.get()
    assert PUBLIC_ID.match(service.public_id)
    assert service.name == "Nairobi Tickets"
    assert response.redirect_chain == [(f"/services/{service.public_id}/", 302)]
    assert f"Service Nairobi Tickets created ({service.public_id})." in response.content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor_user) == ("service_created", admin)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "country": "KE", "status": "active"}, "name", "This field is required."),
        ({"name": "   ", "country": "KE", "status": "active"}, "name", "This field is required."),
        ({"name": "X", "country": "", "status": "active"}, "country", "This field is required."),
        ({"name": "X", "country": "XX", "status": "active"}, "country", "Select a valid choice."),
        ({"name": "X", "country": "KE", "status": "deleted"}, "status", "Select a valid choice."),
        (
            {"name": "X" * 201, "country": "KE", "status": "active"},
            "name",
            "at most 200 characters",
        ),
    ],
)
def test_service_form_errors_are_shown(admin_client_role, data, field, message):
    response = admin_client_role.post("/services/add/", data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Service.objects.exists()


def test_admin_edits_a_service_and_its_public_id_never_changes(admin_client_role, service):
    original = service.public_id
    response = admin_client_role.post(
        f"/services/{original}/edit/",
        {
            "name": "Acme Renamed",
            "country": "GH",
            "status": "suspended",
            "public_id": "srv_hijacked",
        },
    )
    assert response.status_code == 302
    service.refresh_from_db()
    assert (service.public_id, service.name, service.country, service.status) == (
        original,
        "Acme Renamed",
        "GH",
        "suspended",
    )
    entry = AuditEntry.objects.get(action="service_updated")
    assert entry.changes["name"] == ["Acme Payments", "Acme Renamed"]
    assert "never changes" in admin_client_role.get(f"/services/{original}/edit/").content.decode()


def test_admin_deletes_a_service_without_balances(admin_client_role, service):
    page = admin_client_role.get(f"/services/{service.public_id}/delete/").content.decode()
    assert "Acme Payments" in page and service.public_id in page
    response = admin_client_role.post(f"/services/{service.public_id}/delete/", follow=True)
    assert response.redirect_chain == [("/services/", 302)]
    assert f"Service Acme Payments ({service.public_id}) deleted." in response.content.decode()
    assert not Service.objects.exists()
    assert AuditEntry.objects.filter(action="service_deleted").exists()


def test_a_service_with_balances_cannot_be_deleted(admin_client_role, service, eur_balance):
    page = admin_client_role.get(f"/services/{service.public_id}/delete/").content.decode()
    assert "it still has 1 balance; delete them first" in page
    assert "Yes, delete" not in page
    response = admin_client_role.post(f"/services/{service.public_id}/delete/")
    assert response.status_code == 409
    assert "it still has 1 balance; delete them first" in response.content.decode()
    assert Service.objects.filter(pk=service.pk).exists()


def test_service_history_lists_changes(admin_client_role, service):
    admin_client_role.post(
        f"/services/{service.public_id}/edit/",
        {"name": "New Name", "country": "NG", "status": "active"},
    )
    html = admin_client_role.get(f"/services/{service.public_id}/history/").content.decode()
    assert "New Name" in html
    assert "ada" in html


# --- CSRF --------------------------------------------------------------------------------

FORMS = [
    ("/services/add/", {"name": "Via CSRF", "country": "DE", "status": "active"}),
    ("/services/{id}/edit/", {"name": "Via CSRF", "country": "DE", "status": "active"}),
    ("/services/{id}/delete/", {}),
]


@pytest.mark.parametrize(("template", "data"), FORMS, ids=["add", "edit", "delete"])
def test_every_service_form_needs_its_csrf_token(admin, service, template, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    path = template.format(id=service.public_id)
    before = _state()

    assert client.post(path, data).status_code == 403
    assert _state() == before

    assert 'name="csrfmiddlewaretoken"' in client.get(path).content.decode()
    token = client.cookies["csrftoken"].value
    assert client.post(path, {**data, "csrfmiddlewaretoken": token}).status_code == 302
    assert _state() != before
