"""Probes reach an instance by its own address (``Host: 10.0.3.7:8000``), which no
ALLOWED_HOSTS lists: /healthz, /readyz and /metrics answer whatever the Host
(core/observability/probes.py), as they would with an allowed one; every other path is
still refused with a 400."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.observability import health, heartbeats

pytestmark = pytest.mark.django_db

POD = "10.0.3.7:8000"
TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def _only_the_public_name(settings):
    settings.ALLOWED_HOSTS = ["backoffice.example.com"]
    settings.METRICS_TOKEN = TOKEN
    settings.PROMETHEUS_MULTIPROC_DIR = ""
    health.reset_clients()
    heartbeats.forget()
    yield
    health.reset_clients()
    heartbeats.forget()


def test_liveness_and_readiness_answer_an_unlisted_host(client):
    live = client.get("/healthz", HTTP_HOST=POD)
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert live["X-Request-ID"]  # still seen by the request middleware
    assert live["X-Content-Type-Options"] == "nosniff"  # and by the security middleware
    assert "no-cache" in live["Cache-Control"]
    ready = client.get("/readyz", HTTP_HOST=POD)
    assert ready.status_code in (200, 503)
    assert set(ready.json()["checks"]) == {"database", "redis", "workers", "scheduler"}


def test_metrics_answer_an_unlisted_host_with_the_token_only(client):
    assert client.get("/metrics", HTTP_HOST=POD).status_code == 401
    client.get("/healthz", HTTP_HOST=POD)
    scraped = client.get("/metrics", HTTP_HOST=POD, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert scraped.status_code == 200
    labels = [
        sample.labels
        for family in text_string_to_metric_families(scraped.content.decode())
        for sample in family.samples
        if sample.name == "backoffice_http_requests_total"
    ]
    assert {"view": "healthz", "method": "GET", "status": "200"} in labels


def test_the_probes_keep_their_methods(client):
    assert client.post("/healthz", HTTP_HOST=POD).status_code == 405
    assert client.head("/readyz", HTTP_HOST=POD).status_code in (200, 503)


@pytest.mark.parametrize(
    "path", ["/", "/accounts/login/", "/api/v1/services", "/healthz/", "/healthz2"]
)
def test_every_other_path_still_needs_an_allowed_host(client, path):
    assert client.get(path, HTTP_HOST=POD).status_code == 400
    assert client.get(path, HTTP_HOST="backoffice.example.com").status_code != 400
