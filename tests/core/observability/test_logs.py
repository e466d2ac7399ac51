"""Logs (core/observability/logs.py, middleware.py, context.py): one JSON object per line,
a request id on every request (X-Request-ID), carried into the tasks it runs, shown on the
500 page and in the API's 500 envelope."""

from __future__ import annotations

import logging
import re

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import path

from core.observability.logs import logging_config
from tests.core.observability.logcapture import json_log

pytestmark = pytest.mark.django_db

HEX_ID = re.compile(r"[0-9a-f]{32}")
log = logging.getLogger("tests.observability")


def logging_view(request):
    if request.user.is_authenticated:  # as every page does, before it logs
        log.info("signed in")
    log.info("inside the view")
    return HttpResponse("ok")


def failing_view(request):
    raise RuntimeError("kaboom with a detail")


urlpatterns = [
    path("logs-here", logging_view, name="logs-here"),
    path("fails-here", failing_view, name="fails-here"),
]


@pytest.fixture
def routes(settings):
    from config import urls

    settings.ROOT_URLCONF = __name__
    # The error handlers of the real URLconf (handler500…), here too.
    globals().update(
        {f"handler{code}": getattr(urls, f"handler{code}") for code in (400, 403, 404, 500)}
    )


def test_every_response_carries_a_fresh_request_id(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert HEX_ID.fullmatch(first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_log_line_is_one_json_object_with_the_request_id(routes, client):
    with json_log() as captured:
        response = client.get("/logs-here")
    line = next(r for r in captured.records() if r["message"] == "inside the view")
    assert line["request_id"] == response["X-Request-ID"]
    assert line["level"] == "INFO" and line["logger"] == "tests.observability"
    assert {"time", "level", "logger", "message", "request_id"} <= set(line)


def test_a_signed_in_user_is_named_in_the_log_line(routes, operator):
    client = Client()
    client.force_login(operator)
    with json_log() as captured:
        response = client.get("/logs-here")
    line = next(r for r in captured.records() if r["message"] == "signed in")
    assert (line["user"], line["request_id"]) == (operator.username, response["X-Request-ID"])


def test_a_4xx_logged_by_django_after_the_middleware_still_has_the_request_id(client):
    with json_log() as captured:
        response = client.get("/no-such-page/")
    line = next(r for r in captured.records() if r["logger"] == "django.request")
    assert line["request_id"] == response["X-Request-ID"]
    after = client.get("/healthz")  # and the next request gets its own
    assert after["X-Request-ID"] != response["X-Request-ID"]


def test_an_api_key_caller_is_named_by_its_prefix_never_by_its_key(operator, make_api_key):
    from services.models import ApiKey

    raw = make_api_key(operator)
    prefix = ApiKey.objects.get().prefix
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    with json_log() as captured:
        response = api.get("/api/v1/services/srv_doesnotexist")  # 404, logged by Django
    line = next(r for r in captured.records() if r["logger"] == "django.request")
    assert line["request_id"] == response["X-Request-ID"]
    assert (line["user"], line["api_key"]) == (operator.username, prefix)
    assert raw not in captured.text


def test_the_proxys_request_id_is_kept_only_behind_our_proxy_and_when_sane(client, settings):
    settings.BEHIND_PROXY = False
    response = client.get("/healthz", headers={"X-Request-ID": "from-the-client"})
    assert response["X-Request-ID"] != "from-the-client"

    settings.BEHIND_PROXY = True
    response = client.get("/healthz", headers={"X-Request-ID": "lb-1234.abc_DEF-9"})
    assert response["X-Request-ID"] == "lb-1234.abc_DEF-9"
    for insane in ("x" * 65, "has space", "semi;colon", "new\nline", "é"):
        response = client.get("/healthz", headers={"X-Request-ID": insane})
        assert HEX_ID.fullmatch(response["X-Request-ID"]), insane


def test_the_500_page_shows_the_request_id_and_the_log_has_it(routes, settings):
    client = Client(raise_request_exception=False)
    with json_log() as captured:
        response = client.get("/fails-here")
    assert response.status_code == 500
    request_id = response["X-Request-ID"]
    assert request_id.encode() in response.content
    assert b"kaboom" not in response.content
    error_lines = [r for r in captured.records() if r["level"] == "ERROR"]
    assert error_lines and all(r["request_id"] == request_id for r in error_lines)
    assert "kaboom with a detail" in error_lines[0]["exc_info"]


@pytest.mark.django_db(transaction=True)
def test_the_request_id_follows_the_request_into_an_in_process_task(
    operator_api, allow_listed, admin
):
    from balances.connections.actions import connection_save
    from core.actors import Actor
    from tests.factories import ServiceFactory
    from tests.provider_server import SYNCPAY_PATH, ProviderServer, Reply, syncpay_body

    service = ServiceFactory()
    with ProviderServer() as provider:
        allow_listed(provider.url)
        provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("EUR", "1.00", "0.00"))))
        connection_save(
            service=service,
            kind="syncpay",
            actor=Actor.for_user(admin),
            base_url=provider.url,
            credentials={"apiKey": "sk_test_in_process"},
            options={},
            create_missing_balances=True,
        )
        with json_log() as captured:
            response = operator_api.post(f"/api/v1/services/{service.public_id}/balances/sync")
    assert response.status_code == 202, response.content
    request_id = response["X-Request-ID"]
    run_id = response.json()["syncRunId"]
    in_task = [r for r in captured.records() if r.get("sync_run_id") == run_id]
    assert in_task, captured.text
    assert all(r["request_id"] == request_id for r in in_task)
    assert any(
        r.get("provider") == "syncpay" and r["logger"] == "balances.providers.http" for r in in_task
    )
    assert all(
        r.get("task") == "balances.tasks.sync_service"
        for r in in_task
        if r["logger"] != "backoffice.events"
    )


def test_log_format_text_keeps_the_readable_lines_and_json_is_the_formatter():
    text = logging_config(fmt="text", level="INFO")
    assert text["formatters"]["main"] == {
        "format": "%(asctime)s %(levelname)s %(name)s %(message)s"
    }
    as_json = logging_config(fmt="json", level="INFO")
    assert as_json["formatters"]["main"]["()"].endswith("JsonFormatter")
    assert as_json["handlers"]["console"]["filters"] == ["context"]
    with pytest.raises(ValueError):
        logging_config(fmt="xml", level="INFO")


def test_log_format_defaults_json_without_debug_and_text_in_the_embedded_default():
    import os
    import subprocess
    import sys

    code = "from django.conf import settings; print(settings.LOG_FORMAT)"
    base = {k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT", "DATABASE_URL", "DEBUG")}
    embedded = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    production = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**base, "DJANGO_SETTINGS_MODULE": "config.test_settings", "DEBUG": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert embedded.stdout.strip().splitlines()[-1] == "text"
    assert production.stdout.strip().splitlines()[-1] == "json"
