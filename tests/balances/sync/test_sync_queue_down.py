"""Redis (the task queue, the sync lock, the rate windows) unreachable: asking for a sync is
refused with 503 and leaves no run behind, pages and reads keep working, and a sync starts as
soon as Redis is back.  Redis is "down" by pointing the settings (or the broker) at a closed
port, never by stopping the real server."""

from __future__ import annotations

import logging
import socket
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from balances.actions import balance_create
from balances.models import SyncRun
from balances.sync.request import QueueUnavailable, sync_request
from balances.sync.schedule import sync_schedule_due
from core import redis as shared_redis
from core.actors import Actor
from services.models import ProviderConnection
from tests.balances.sync.worker_harness import publishing_to
from tests.factories import ServiceFactory
from tests.provider_server import SYNCPAY_PATH, syncpay_body

D = Decimal
MESSAGE = (
    "Balance updates are unavailable right now (the task queue cannot be reached); "
    "try again in a minute."
)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # nothing listens there once the socket is closed


class RedisSwitch:
    def __init__(self, settings) -> None:
        self.settings = settings
        self.url = settings.REDIS_URL
        self.caches = settings.CACHES

    def down(self) -> None:
        dead = closed_port_url()
        self.settings.REDIS_URL = dead
        self.settings.CACHES = {"default": {**self.caches["default"], "LOCATION": dead}}
        shared_redis.reset_clients()

    def up(self) -> None:
        self.settings.REDIS_URL = self.url
        self.settings.CACHES = self.caches
        shared_redis.reset_clients()


@pytest.fixture
def redis(settings):
    assert settings.USE_REDIS
    switch = RedisSwitch(settings)
    yield switch
    switch.up()


@pytest.fixture
def connected(db, operator, provider, connect):
    service = ServiceFactory(name="Lagos Retail")
    balance_create(
        service=service, currency="USD", amount=D("1000.00"), actor=Actor.for_user(operator)
    )
    provider.route(SYNCPAY_PATH, syncpay_body(("USD", "1250.50", "0.00")))
    connect(service, provider.url)
    return service


def sync_api_url(service) -> str:
    return f"/api/v1/services/{service.public_id}/balances/sync"


def page_url(service, rest: str = "") -> str:
    return f"/services/{service.public_id}/balances/{rest}"


# --- Redis down before the run is created --------------------------------------------------


def test_api_sync_answers_503_and_a_sync_starts_once_redis_is_back(
    redis, connected, operator_api, django_capture_on_commit_callbacks
):
    redis.down()
    response = operator_api.post(sync_api_url(connected))

    assert response.status_code == 503
    assert response.json() == {
        "error": {"code": "service_unavailable", "message": MESSAGE, "details": {}}
    }
    assert response["Retry-After"] == "60"
    assert not SyncRun.objects.exists()

    redis.up()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post(sync_api_url(connected))

    assert response.status_code == 202
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.SUCCEEDED  # tasks run in-process in the tests


def test_update_balances_button_says_so_on_the_page(
    redis, connected, clients, django_capture_on_commit_callbacks
):
    redis.down()
    response = clients["operator"].post(page_url(connected, "sync/"))

    page = response.content.decode()
    assert response.status_code == 503
    assert MESSAGE in page
    assert "<h1>Balances</h1>" in page and 'id="balance-USD"' in page  # the page still renders
    assert not SyncRun.objects.exists()

    redis.up()
    with django_capture_on_commit_callbacks(execute=True):
        response = clients["operator"].post(page_url(connected, "sync/"))
    assert response.status_code == 302
    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED


def test_update_balances_button_with_htmx_gets_the_status_bar(redis, connected, clients):
    redis.down()
    response = clients["operator"].post(page_url(connected, "sync/"), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 503  # swapped in place: htmx-config in base.html
    assert 'id="sync-status"' in body and MESSAGE in body
    assert not SyncRun.objects.exists()


def test_sync_command_reports_it_and_leaves_no_run(redis, connected, capsys):
    redis.down()
    with pytest.raises(CommandError, match="Nothing to synchronise"):
        call_command("sync_balances", "--service", connected.public_id)

    assert MESSAGE in capsys.readouterr().err
    assert not SyncRun.objects.exists()


def test_scheduler_queues_nothing_and_keeps_the_services_due(redis, connected):
    before = ProviderConnection.objects.get(service=connected).next_sync_at
    redis.down()

    assert sync_schedule_due() == 0

    assert not SyncRun.objects.exists()
    assert ProviderConnection.objects.get(service=connected).next_sync_at == before
    redis.up()
    assert sync_schedule_due() == 1


def test_pages_and_reads_keep_working(redis, connected, clients, operator_api, caplog):
    redis.down()
    caplog.set_level(logging.WARNING)

    assert clients["viewer"].get(page_url(connected)).status_code == 200
    assert clients["viewer"].get(f"/services/{connected.public_id}/sync-runs/").status_code == 200
    response = operator_api.get(f"/api/v1/services/{connected.public_id}/balances")
    assert response.status_code == 200
    assert response.json()["balances"][0]["currency"] == "USD"
    # The throttle could not count the request and let it through rather than failing it.
    assert "API throttle unavailable" in caplog.text


# --- the broker fails the publish after the run was created --------------------------------


def test_a_failed_publish_inside_a_transaction_withdraws_the_run(
    connected, django_capture_on_commit_callbacks
):
    from config.celery import app

    # Redis answers (the check passes); the broker does not: the publish, on commit, fails.
    with (
        publishing_to(app, closed_port_url()),
        pytest.raises(QueueUnavailable),
        django_capture_on_commit_callbacks(execute=True),
    ):
        sync_request(service=connected, trigger="button")

    assert not SyncRun.objects.exists()
    run = sync_request(service=connected, trigger="button")  # not blocked by a queued one
    assert run.status == SyncRun.Status.QUEUED


@pytest.mark.django_db(transaction=True)
def test_a_failed_publish_answers_503_and_the_next_request_is_queued(
    connected, operator_api, settings
):
    from config.celery import app

    with publishing_to(app, closed_port_url()):
        response = operator_api.post(sync_api_url(connected))

        assert response.status_code == 503
        assert response.json()["error"]["code"] == "service_unavailable"
        assert not SyncRun.objects.exists()

    # The broker is back (the tests' Redis, no worker): the run is queued and its task
    # published, nothing left over blocks it.
    with publishing_to(app, settings.REDIS_URL):
        response = operator_api.post(sync_api_url(connected))

    assert response.status_code == 202
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.QUEUED
    queue = shared_redis.client().llen(shared_redis.key("celery"))
    assert queue == 1
    shared_redis.client().delete(shared_redis.key("celery"))


def test_a_publish_that_got_through_after_all_is_not_withdrawn(
    connected, monkeypatch, django_capture_on_commit_callbacks
):
    # The worker already took the run when the publish reported its error: the run goes on.
    from celery import current_app
    from kombu.exceptions import OperationalError

    from balances.sync.request import SYNC_TASK

    def published_then_failed(*args, **kwargs):
        SyncRun.objects.filter(service=connected).update(status="running", attempts=1)
        raise OperationalError("connection reset after the message was sent")

    monkeypatch.setattr(current_app.tasks[SYNC_TASK], "apply_async", published_then_failed)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_request(service=connected, trigger="api")

    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.RUNNING


def test_test_connection_says_the_rate_limiter_is_unavailable(redis, connected, clients, provider):
    redis.down()
    response = clients["admin"].post(
        f"/services/{connected.public_id}/provider/test/",
        {"kind": "syncpay", "base_url": provider.url, "syncpay_api_key": ""},
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "Test connection failed — Provider unavailable" in page
    assert "shared rate limiter is unavailable" in page
    assert provider.hits(SYNCPAY_PATH) == 0  # the provider's limit is never risked
