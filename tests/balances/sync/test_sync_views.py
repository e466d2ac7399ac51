"""Update balances, its live status, Sync runs pages and the provider connection page,
for every role."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from balances.actions import balance_create, balance_update
from balances.connections.queries import stored_credentials
from balances.models import Balance, BalanceChange, SyncRun
from core.actors import Actor
from services.models import ProviderConnection
from tests.balances.sync.conftest import SYNCPAY_KEY
from tests.factories import ServiceFactory
from tests.provider_server import SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED, Reply, syncpay_body

D = Decimal


@pytest.fixture
def service(db, operator):
    service = ServiceFactory(name="Lagos Retail")
    balance_create(
        service=service, currency="USD", amount=D("1000.00"), actor=Actor.for_user(operator)
    )
    return service


@pytest.fixture
def connected(service, provider, connect):
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("USD", "1250.50", "125.00"))))
    connect(service, provider.url)
    return service


def url(service, name):
    return {
        "list": f"/services/{service.public_id}/balances/",
        "sync": f"/services/{service.public_id}/balances/sync/",
        "status": f"/services/{service.public_id}/balances/sync-status/",
        "runs": f"/services/{service.public_id}/sync-runs/",
        "provider": f"/services/{service.public_id}/provider/",
        "test": f"/services/{service.public_id}/provider/test/",
        "delete": f"/services/{service.public_id}/provider/delete/",
        "resume": f"/services/{service.public_id}/provider/resume/",
    }[name]


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("nobody", 403), ("viewer", 403), ("operator", 302), ("admin", 302)],
)
def test_update_balances_permissions(
    clients, connected, role, status, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = clients[role].post(url(connected, "sync"))
    assert response.status_code == status
    ran = SyncRun.objects.filter(service=connected).exists()
    assert ran == (role in ("operator", "admin"))
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/")


def test_update_balances_button_shown_only_to_those_who_may_sync(clients, connected, service):
    assert b"Update balances" in clients["operator"].get(url(connected, "list")).content
    assert b"Update balances" not in clients["viewer"].get(url(connected, "list")).content


def test_no_button_without_a_provider_connection(clients, service):
    assert b"Update balances" not in clients["operator"].get(url(service, "list")).content


def test_button_runs_the_sync_and_the_page_shows_the_result(
    clients, connected, provider, django_capture_on_commit_callbacks
):
    client = clients["operator"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(connected, "sync"))
    assert response["Location"] == url(connected, "list")
    page = client.get(response["Location"]).content.decode()
    assert "1,250.50" in page  # the card shows the provider's figure
    run = SyncRun.objects.get(service=connected)
    assert run.status == "succeeded" and run.trigger == "button"


def test_htmx_status_polls_while_active_and_refreshes_cards_when_done(clients, connected, provider):
    client = clients["operator"]
    from balances.sync.request import sync_request

    run = sync_request(service=connected, trigger="button")  # queued: on_commit not run here
    response = client.get(url(connected, "status"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'hx-trigger="every 1s"' in body
    assert run.public_id in body

    from balances.sync.execute import sync_execute

    sync_execute(run_public_id=run.public_id)
    response = client.get(
        url(connected, "status") + f"?run={run.public_id}", HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "every 1s" not in body
    assert 'id="balance-cards" hx-swap-oob="true"' in body
    assert "1,250.50" in body


def test_htmx_button_returns_the_status_bar(clients, connected, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = clients["operator"].post(url(connected, "sync"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'id="sync-status"' in response.content.decode()


def test_second_click_says_a_sync_is_already_running(clients, connected):
    from balances.sync.request import sync_request

    run = sync_request(service=connected, trigger="schedule")
    response = clients["operator"].post(url(connected, "sync"), follow=True)
    assert f"already queued (sync run {run.public_id})" in response.content.decode()
    assert SyncRun.objects.filter(service=connected).count() == 1


def test_failed_run_is_explained_in_words(
    clients, service, provider, connect, django_capture_on_commit_callbacks
):
    provider.reply(SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED)
    connect(service, provider.url)
    with django_capture_on_commit_callbacks(execute=True):
        clients["operator"].post(url(service, "sync"))
    page = clients["operator"].get(url(service, "list")).content.decode()
    assert "Update failed: Authentication failed" in page
    assert "Invalid API key (UNAUTHORIZED)" in page


def test_sync_runs_pages(clients, connected, run_now):
    run = run_now(connected)
    for role, expected in [("anonymous", 302), ("nobody", 403), ("viewer", 200)]:
        assert clients[role].get(url(connected, "runs")).status_code == expected
    page = clients["viewer"].get(url(connected, "runs")).content.decode()
    assert run.public_id in page and "succeeded" in page
    detail = clients["viewer"].get(f"{url(connected, 'runs')}{run.public_id}/").content.decode()
    assert "1,250.50" in detail and "1,000.00" in detail
    assert clients["viewer"].get(f"{url(connected, 'runs')}run_nope/").status_code == 404


def test_run_result_says_it_replaced_a_manual_value(
    clients, connected, run_now, operator, settings
):
    settings.SYNC_PROTECTION_HOURS = 0  # without protection a sync overwrites, and says so
    balance_update(
        service=connected,
        currency="USD",
        amount=D("999.00"),
        expected_version=1,
        actor=Actor.for_user(operator),
        reason="by hand",
    )
    run = run_now(connected)
    detail = clients["viewer"].get(f"{url(connected, 'runs')}{run.public_id}/").content.decode()
    assert f"replaced a value set by hand by {operator.username}" in detail


def test_stale_balance_is_marked_on_its_card(clients, connected, settings):
    settings.SYNC_INTERVAL_MINUTES = 15
    from datetime import timedelta

    from django.utils import timezone

    Balance.objects.filter(service=connected).update(
        last_synced_at=timezone.now() - timedelta(minutes=31)
    )
    assert ">stale<" in clients["viewer"].get(url(connected, "list")).content.decode()
    Balance.objects.filter(service=connected).update(
        last_synced_at=timezone.now() - timedelta(minutes=29)
    )
    assert ">stale<" not in clients["viewer"].get(url(connected, "list")).content.decode()


def test_services_list_and_details_show_sync_state(clients, connected, run_now):
    run_now(connected)
    listing = clients["viewer"].get("/services/").content.decode()
    assert "SyncPay" in listing and "synced" in listing and "succeeded" in listing
    detail = clients["viewer"].get(f"/services/{connected.public_id}/").content.decode()
    assert "Last successful sync" in detail and "test mode" in detail


# --- provider connection page ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("nobody", 403), ("viewer", 403), ("operator", 403), ("admin", 200)],
)
def test_provider_page_permissions(clients, connected, role, status):
    assert clients[role].get(url(connected, "provider")).status_code == status
    assert clients[role].post(url(connected, "provider"), {"kind": "syncpay"}).status_code in (
        {status} if status != 200 else {302, 400}
    )


def test_secrets_are_never_rendered(clients, connected, superuser):
    admin_client = clients["admin"]
    for page in (
        url(connected, "provider"),
        f"/services/{connected.public_id}/",
        url(connected, "list"),
    ):
        assert SYNCPAY_KEY not in admin_client.get(page).content.decode()
    root = Client()
    root.force_login(superuser)
    connection = ProviderConnection.objects.get(service=connected)
    admin_page = root.get(
        f"/admin/services/providerconnection/{connection.pk}/change/"
    ).content.decode()
    assert SYNCPAY_KEY not in admin_page
    assert connection.credentials_encrypted and SYNCPAY_KEY not in connection.credentials_encrypted


def test_saving_with_blank_secret_keeps_the_stored_one(clients, connected, provider):
    response = clients["admin"].post(
        url(connected, "provider"),
        {
            "kind": "syncpay",
            "base_url": provider.url,
            "syncpay_api_key": "",
            "create_missing_balances": "on",
        },
    )
    assert response.status_code == 302
    connection = ProviderConnection.objects.get(service=connected)
    assert stored_credentials(connection) == {"apiKey": SYNCPAY_KEY}
    assert connection.create_missing_balances is True


def test_connecting_a_provider_requires_its_credentials(clients, service):
    response = clients["admin"].post(
        url(service, "provider"), {"kind": "wise", "wise_profile_id": "123"}
    )
    assert response.status_code == 400
    assert "wise needs apiToken" in response.content.decode()
    assert not ProviderConnection.objects.filter(service=service).exists()


def test_bad_syncpay_key_is_refused_with_a_field_error(clients, service):
    response = clients["admin"].post(
        url(service, "provider"), {"kind": "syncpay", "syncpay_api_key": "pk_live_x"}
    )
    assert response.status_code == 400
    assert "starts with sk_test_ or sk_live_" in response.content.decode()


def test_test_connection_shows_the_diff_and_writes_nothing(clients, connected, provider):
    before = list(BalanceChange.objects.values_list("id", flat=True))
    response = clients["admin"].post(
        url(connected, "test"), {"kind": "syncpay", "base_url": provider.url, "syncpay_api_key": ""}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Test connection succeeded" in page
    assert "1,000.00" in page and "1,250.50" in page
    assert Balance.objects.get(service=connected).available == D("1000.00")
    assert list(BalanceChange.objects.values_list("id", flat=True)) == before
    assert not SyncRun.objects.exists()


def test_test_connection_explains_a_failure(clients, service, provider):
    provider.reply(SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED)
    response = clients["admin"].post(
        url(service, "test"),
        {"kind": "syncpay", "base_url": provider.url, "syncpay_api_key": "sk_live_wrong123"},
    )
    page = response.content.decode()
    assert "Test connection failed" in page and "Invalid API key" in page
    assert "sk_live_wrong123" not in page
    assert not ProviderConnection.objects.filter(service=service).exists()


def test_disconnect_and_resume(clients, connected):
    connection = ProviderConnection.objects.get(service=connected)
    connection.paused_at = connection.updated_at
    connection.paused_reason = "Paused after 10 failed runs in a row."
    connection.save()
    assert b"Scheduled updates are paused" in clients["viewer"].get(url(connected, "list")).content
    assert clients["viewer"].post(url(connected, "resume")).status_code == 403
    assert clients["operator"].post(url(connected, "resume")).status_code == 302
    connection.refresh_from_db()
    assert not connection.is_paused
    assert clients["operator"].post(url(connected, "delete")).status_code == 403
    assert clients["admin"].get(url(connected, "delete")).status_code == 200
    assert clients["admin"].post(url(connected, "delete")).status_code == 302
    assert not ProviderConnection.objects.filter(service=connected).exists()
    assert Balance.objects.filter(service=connected).exists()  # balances stay


def test_admins_edit_the_connection_on_demand_from_the_service_details_page(clients, connected):
    # The details page shows the connection and "Edit connection"; the form is its own page.
    page = clients["admin"].get(f"/services/{connected.public_id}/").content.decode()
    assert "Test connection" not in page and 'name="syncpay_api_key"' not in page
    assert f'href="/services/{connected.public_id}/provider/">Edit connection</a>' in page
    form = clients["admin"].get(f"/services/{connected.public_id}/provider/").content.decode()
    assert "Test connection" in form and 'name="syncpay_api_key"' in form
    assert "API key set" in form and "apiKey" not in form and SYNCPAY_KEY not in form
    operator_page = clients["operator"].get(f"/services/{connected.public_id}/").content.decode()
    assert "Edit connection" not in operator_page and "syncpay_api_key" not in operator_page
