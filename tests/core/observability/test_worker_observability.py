"""Operability with a real Celery worker and Redis (tests/balances/sync/worker_harness.py):
sync metrics counted in the worker and read through /metrics (prometheus-client's
multiprocess mode, as under gunicorn), the worker's heartbeat seen by /readyz and missed once
the worker is gone, and the request id followed from the request into the task's JSON log
lines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test import Client

from balances.models import SyncRun
from balances.sync.request import sync_request
from core.observability import health, heartbeats
from tests.balances.sync.worker_checks import run_ended, syncpay_service, wait_until
from tests.balances.sync.worker_harness import (
    CeleryWorker,
    flush_redis,
    private_redis,
    publishing_to,
    worker_env,
)
from tests.provider_server import SYNCPAY_PATH, ProviderServer, Reply, syncpay_body

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TOKEN = "metrics-token-for-worker-tests"
PROVIDER_KEY = "sk_test_worker_secret_9f8e7d"


@pytest.fixture(scope="module")
def worker_redis() -> Iterator[str]:
    with private_redis() as url:
        yield url


@pytest.fixture
def metrics_dir(tmp_path, settings) -> str:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    settings.PROMETHEUS_MULTIPROC_DIR = str(directory)
    settings.METRICS_TOKEN = TOKEN
    return str(directory)


@pytest.fixture
def start_worker(
    transactional_db, settings, worker_redis, metrics_dir
) -> Iterator[Callable[..., CeleryWorker]]:
    from config.celery import app

    flush_redis(worker_redis)
    started: list[CeleryWorker] = []
    with publishing_to(app, worker_redis):
        settings.TASKS_IN_PROCESS = False
        settings.CELERY_TASK_ALWAYS_EAGER = False
        settings.REDIS_URL = settings.CELERY_BROKER_URL = worker_redis
        health.reset_clients()

        def start(**env: str) -> CeleryWorker:
            overrides = {
                "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
                "WORKER_HEARTBEAT_SECONDS": "1",
                "WORKER_HEARTBEAT_MAX_AGE_SECONDS": "5",
                **env,
            }
            worker = CeleryWorker(
                app, worker_env(db_connection.settings_dict, worker_redis, overrides)
            )
            started.append(worker)
            worker.wait_ready()
            return worker

        yield start
        for worker in started:
            worker.stop()
            print(f"--- {worker.hostname} ---\n{worker.log_tail(80)}")
            worker.log_path.unlink(missing_ok=True)
    health.reset_clients()


@pytest.fixture
def provider(allow_listed) -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        allow_listed(server.url)
        yield server


@pytest.fixture
def connect(admin):
    from balances.connections.actions import connection_save
    from core.actors import Actor

    def _connect(service, base_url):
        return connection_save(
            service=service,
            kind="syncpay",
            actor=Actor.for_user(admin),
            base_url=base_url,
            credentials={"apiKey": PROVIDER_KEY},
            options={},
            create_missing_balances=True,
        )

    return _connect


def scrape(client: Client, **headers: str) -> Any:
    return client.get("/metrics", headers=headers)


def sample(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0


def json_lines(worker: CeleryWorker) -> list[dict[str, Any]]:
    """The worker's log, parsed: every log line is one JSON object (Celery's start-up banner,
    printed before logging is set up, is not a log line)."""
    return [json.loads(line) for line in worker.log_text().splitlines() if line.startswith("{")]


def test_sync_metrics_are_counted_on_the_worker_and_read_through_metrics(
    start_worker, provider, connect, operator
):
    ok = syncpay_service(operator, connect, provider.url, "Good Shop", USD="1.00")
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("USD", "2.00", "0.00"))))
    worker = start_worker()
    client = Client()

    run = sync_request(service=ok, trigger=SyncRun.Trigger.API, user=operator)
    wait_until(run_ended(run.public_id), timeout=20, what="the good run", workers=[worker])
    # The next answer is a refusal: the second run fails (auth, not retried).
    provider.reply(
        SYNCPAY_PATH,
        Reply({"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}, status=401),
    )
    failing = sync_request(service=ok, trigger=SyncRun.Trigger.SCHEDULE)
    wait_until(run_ended(failing.public_id), timeout=20, what="the failing run", workers=[worker])

    assert scrape(client).status_code == 401
    assert scrape(client, Authorization="Bearer not-the-token").status_code == 401

    def counted() -> str | None:
        text = scrape(client, Authorization=f"Bearer {TOKEN}").content.decode()
        runs = "backoffice_sync_runs_total"
        done = sample(text, runs, provider="syncpay", trigger="schedule", status="failed")
        return text if done else None

    text = wait_until(counted, timeout=10, what="the metrics of the worker", workers=[worker])
    runs = "backoffice_sync_runs_total"
    assert sample(text, runs, provider="syncpay", trigger="api", status="succeeded") == 1
    assert sample(text, runs, provider="syncpay", trigger="schedule", status="failed") == 1
    requests = "backoffice_provider_requests_total"
    assert sample(text, requests, provider="syncpay", outcome="ok") == 1
    assert sample(text, requests, provider="syncpay", outcome="4xx") == 1
    assert sample(text, "backoffice_sync_duration_seconds_count", provider="syncpay") == 2
    assert sample(text, "backoffice_celery_queue_depth", queue="celery") == 0
    assert PROVIDER_KEY not in worker.log_text()


def test_readiness_sees_the_worker_and_misses_it_once_it_is_gone(start_worker, settings):
    heartbeats.scheduler_beat()
    client = Client()
    assert client.get("/readyz").json()["checks"]["workers"] == "none seen for 60 s"

    worker = start_worker()
    wait_until(
        lambda: client.get("/readyz").json()["checks"]["workers"] == "ok",
        timeout=10,
        what="the worker's heartbeat",
        workers=[worker],
    )
    worker.kill()
    settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS = 2
    time.sleep(2.5)  # the limit, plus a margin: no heartbeat comes any more
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["workers"] == "none seen for 2 s"


def test_the_request_id_follows_the_request_into_the_workers_json_log_lines(
    start_worker, provider, connect, operator, operator_api
):
    service = syncpay_service(operator, connect, provider.url, "Traced Shop", USD="1.00")
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("USD", "3.00", "0.00"))))
    worker = start_worker()

    response = operator_api.post(f"/api/v1/services/{service.public_id}/balances/sync")
    assert response.status_code == 202, response.content
    request_id = response["X-Request-ID"]
    run_id = response.json()["syncRunId"]
    wait_until(run_ended(run_id), timeout=20, what="the run", workers=[worker])

    def traced() -> list[dict[str, Any]]:
        lines = [r for r in json_lines(worker) if r.get("sync_run_id") == run_id]
        return lines if any(r["logger"] == "backoffice.events" for r in lines) else []

    lines = wait_until(traced, timeout=10, what="the run's log lines", workers=[worker])
    assert {r["request_id"] for r in lines} == {request_id}
    assert {r["user"] for r in lines} == {operator.username}
    provider_line = next(r for r in lines if r["logger"] == "balances.providers.http")
    assert provider_line["provider"] == "syncpay"
    assert provider_line["service_id"] == service.pk

    # Celery's own lines about the task carry it too (bound from the message header): its
    # "succeeded" line, written once the task has returned, a moment after the run's lines.
    def celery_lines() -> list[dict[str, Any]]:
        about = [r for r in json_lines(worker) if "sync_service[" in r["message"]]
        return about if any(r["request_id"] == request_id for r in about) else []

    assert wait_until(celery_lines, timeout=10, what="Celery's lines", workers=[worker])
