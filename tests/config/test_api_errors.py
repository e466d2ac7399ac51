"""Every error under /api/ is JSON in one envelope, produced here by real requests."""

from __future__ import annotations

import logging

import pytest
from django.test import Client, RequestFactory

from core.api import errors
from tests.config.helpers import assert_error, send
from tests.factories import BalanceFactory

pytestmark = pytest.mark.django_db


def balances_url(service) -> str:
    return f"/api/v1/services/{service.public_id}/balances"


def test_400_invalid_fields_are_named_in_details(operator_api, service):
    error = assert_error(
        send(operator_api, "post", balances_url(service), {"currency": "EUR", "amount": "1.234"}),
        400,
        "validation_error",
    )
    assert list(error["details"]) == ["amount"]
    assert "amount" in error["message"].lower()


def test_400_malformed_json(operator_api, service):
    assert_error(send(operator_api, "post", balances_url(service), "{nope"), 400, "parse_error")


def test_400_nan_is_not_a_json_number(operator_api, service):
    response = send(
        operator_api, "post", balances_url(service), '{"currency": "EUR", "amount": NaN}'
    )
    assert_error(response, 400, "parse_error")


def test_400_from_django_itself_is_json_under_api(settings, viewer_api, service):
    settings.ALLOWED_HOSTS = ["backoffice.example"]

    response = viewer_api.get(balances_url(service), HTTP_HOST="evil.example")

    assert_error(response, 400, "bad_request")


def test_401_without_credentials(anonymous_api, service):
    response = anonymous_api.get(balances_url(service))

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_403_missing_permission(viewer_api, service):
    response = send(viewer_api, "post", balances_url(service), {"currency": "EUR"})
    assert_error(response, 403, "permission_denied")


def test_404_unknown_object(viewer_api):
    assert_error(viewer_api.get("/api/v1/services/srv_missing/balances"), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/services/x/y/z/w", "/api/v2/"])
def test_404_unknown_api_url_is_json(viewer_api, path):
    assert_error(viewer_api.get(path), 404, "not_found")


def test_404_outside_the_api_stays_an_html_page(viewer_client):
    response = viewer_client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_405_method_not_allowed(admin_api, service):
    response = send(admin_api, "put", balances_url(service), {})

    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_406_only_json_is_offered(viewer_api, service):
    response = viewer_api.get(balances_url(service), HTTP_ACCEPT="application/xml")
    assert_error(response, 406, "not_acceptable")


def test_409_conflict(operator_api, eur_balance):
    response = send(operator_api, "post", balances_url(eur_balance.service), {"currency": "EUR"})
    assert_error(response, 409, "already_exists")


def test_412_stale_version(operator_api, eur_balance):
    response = send(
        operator_api,
        "patch",
        balances_url(eur_balance.service) + "/EUR",
        {"amount": "1", "reason": "r"},
        HTTP_IF_MATCH='"99"',
    )
    assert_error(response, 412, "stale_version")


def test_415_body_is_not_json(operator_api, service):
    response = operator_api.post(balances_url(service), {"currency": "EUR"})  # multipart
    assert_error(response, 415, "unsupported_media_type")


def test_429_too_many_requests_with_retry_after(settings, viewer_api, service):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"apikey": "2/min", "anon": "100/min"},
    }
    for _ in range(2):
        assert viewer_api.get(balances_url(service)).status_code == 200

    response = viewer_api.get(balances_url(service))

    error = assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert error["details"]["retryAfter"] == int(response["Retry-After"])


def test_500_is_json_logged_and_without_traceback(monkeypatch, caplog, viewer_api, service):
    def explode(service_id):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("balances.api.views.service_get", explode)

    with caplog.at_level(logging.ERROR, logger="config.api"):
        response = viewer_api.get(balances_url(service))

    error = assert_error(response, 500, "server_error")
    assert b"database on fire" not in response.content
    assert "database on fire" in caplog.text  # the operators still learn what happened
    # The reference a user can quote: the request id of the response and of the log line.
    assert error["details"] == {"requestId": response["X-Request-ID"]}


def test_500_outside_drf_views_is_json_under_api_and_html_elsewhere():
    factory = RequestFactory()

    api = errors.handler500(factory.get("/api/v1/services"))
    page = errors.handler500(factory.get("/services/"))

    assert_error(api, 500, "server_error")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_403_outside_drf_views_is_json_under_api():
    response = errors.handler403(RequestFactory().get("/api/v1/x"), None)
    assert_error(response, 403, "permission_denied")


def test_errors_are_json_even_when_a_browser_asks_for_html(service):
    response = Client().get(balances_url(service), HTTP_ACCEPT="text/html,application/xhtml+xml")

    assert_error(response, 401)


def test_details_keys_are_camel_case(admin_api, service):
    response = send(
        admin_api,
        "put",
        f"/api/v1/services/{service.public_id}/provider",
        {
            "kind": "syncpay",
            "credentials": {"apiKey": "sk_test_1"},
            "createMissingBalances": "maybe",
        },
    )

    assert list(assert_error(response, 400)["details"]) == ["createMissingBalances"]


def test_camel_helper():
    assert errors.camel("non_field_errors") == "nonFieldErrors"
    assert errors.camel("baseUrl") == "baseUrl"


def test_balance_list_with_pending_amounts_still_renders(viewer_api, service):
    # Guard for the renderer: every amount figure is a Decimal with the currency's digits.
    BalanceFactory(service=service, currency="EUR", pending="1.5", reserved="2")
    raw = viewer_api.get(balances_url(service)).content
    assert b'"pending": 1.50, "reserved": 2.00,' in raw


def test_400_a_body_over_the_upload_limit(settings, operator_api, service):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    payload = '{"currency": "EUR", "reason": "' + "x" * 2000 + '"}'

    assert_error(send(operator_api, "post", balances_url(service), payload), 400, "bad_request")
