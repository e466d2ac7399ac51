"""GET /metrics (core/observability/views.py, exposition.py): only with the bearer token,
Prometheus text with the HTTP, sync, provider and payout counters and the scrape-time
gauges; bounded labels (no ids, no amounts)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from alerts.models import Alert, Kind
from balances.models import Balance
from core.actors import Actor
from payouts import actions as payouts
from services.models import ProviderConnection
from tests.factories import BalanceFactory, ServiceFactory
from tests.provider_server import SYNCPAY_PATH, ProviderServer, Reply, syncpay_body

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.PROMETHEUS_MULTIPROC_DIR = ""
    return TOKEN


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_without_a_configured_token_metrics_do_not_exist(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"],
)
def test_a_missing_or_wrong_token_is_401(client, token, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"backoffice_" not in response.content


def test_http_requests_are_counted_by_view_name_and_status_never_by_path(client, token, service):
    before = scrape(client)
    client.get("/healthz")
    client.get(f"/api/v1/services/{service.public_id}")  # anonymous: 401
    client.get("/no-such-page/")
    after = scrape(client)

    def delta(**labels):
        return value(after, "backoffice_http_requests_total", **labels) - value(
            before, "backoffice_http_requests_total", **labels
        )

    assert delta(view="healthz", method="GET", status="200") == 1
    assert delta(view="api-service", method="GET", status="401") == 1
    assert delta(view="unresolved", method="GET", status="404") == 1
    assert (
        value(after, "backoffice_http_request_duration_seconds_count", view="healthz", method="GET")
        >= 1
    )
    names = {labels for (_name, labels) in after}
    assert not any(service.public_id in str(labels) for labels in names)


def test_gauges_are_computed_when_scraped(client, token, admin, settings):
    settings.SYNC_INTERVAL_MINUTES = 15
    service = ServiceFactory()
    from tests.factories import ProviderConnectionFactory

    ProviderConnectionFactory(
        service=service, kind="syncpay", actor=Actor.system("tests"), paused_at=timezone.now()
    )
    stale = BalanceFactory(service=service, currency="EUR", available=Decimal("1.00"))
    Balance.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=2))
    BalanceFactory(service=ServiceFactory(), currency="USD")  # not connected: never stale
    Alert.objects.create(
        service=service, currency="EUR", kind=Kind.AVAILABLE_BELOW, opened_value="1.00"
    )

    samples = scrape(client)

    assert value(samples, "backoffice_connections_paused") == 1
    assert value(samples, "backoffice_balances_stale") == 1
    assert value(samples, "backoffice_alerts_open") == 1
    ProviderConnection.objects.update(paused_at=None)
    Alert.objects.update(status=Alert.Status.RESOLVED, resolved_at=timezone.now())
    samples = scrape(client)
    assert value(samples, "backoffice_connections_paused") == 0
    assert value(samples, "backoffice_alerts_open") == 0


def test_queue_depth_is_read_from_the_broker_queue_under_the_key_prefix(client, token, settings):
    from core import redis as shared_redis

    settings.TASKS_IN_PROCESS = False
    shared_redis.client().rpush(shared_redis.key("celery"), "a", "b", "c")
    assert value(scrape(client), "backoffice_celery_queue_depth", queue="celery") == 3


def test_syncs_provider_requests_and_payouts_are_counted(
    client, token, admin, allow_listed, django_capture_on_commit_callbacks
):
    from balances.connections.actions import connection_save
    from balances.sync.request import sync_request

    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR", available=Decimal("500.00"))
    before = scrape(client)
    with ProviderServer() as provider:
        allow_listed(provider.url)
        provider.reply(
            SYNCPAY_PATH,
            Reply(syncpay_body(("EUR", "500.00", "0.00"))),
            Reply({"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}, status=401),
        )
        connection_save(
            service=service,
            kind="syncpay",
            actor=Actor.for_user(admin),
            base_url=provider.url,
            credentials={"apiKey": "sk_test_metrics_key"},
            options={},
            create_missing_balances=False,
        )
        for trigger in ("api", "schedule"):
            with django_capture_on_commit_callbacks(execute=True):
                sync_request(service=service, trigger=trigger, user=admin)
    with django_capture_on_commit_callbacks(execute=True):
        payouts.payout_create(
            service=service,
            currency="EUR",
            amount=Decimal("10.00"),
            destination="IBAN DE89",
            actor=Actor.for_user(admin),
        )
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    runs = "backoffice_sync_runs_total"
    assert delta(runs, provider="syncpay", trigger="api", status="succeeded") == 1
    assert delta(runs, provider="syncpay", trigger="schedule", status="failed") == 1
    assert delta("backoffice_sync_duration_seconds_count", provider="syncpay") == 2
    requests = "backoffice_provider_requests_total"
    assert delta(requests, provider="syncpay", outcome="ok") == 1
    assert delta(requests, provider="syncpay", outcome="4xx") == 1
    assert delta("backoffice_provider_rate_limit_wait_seconds_count", provider="syncpay") == 2
    assert delta("backoffice_payouts_total", status="pending") == 1
    # No label carries an amount or a service id (the values are measurements: a duration
    # such as 0.0310004 may well contain "10.00", so only the names and labels are read).
    labels = str(list(after))
    assert "10.00" not in labels and service.public_id not in labels
