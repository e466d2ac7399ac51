"""The OpenAPI schema at /api/v1/schema/ and the docs at /api/v1/docs/ (no CDN), both behind a
login like every other endpoint."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from django.test import Client

from tests.config.helpers import assert_error
from tests.conftest import BAD_API_KEY, api_client_with_key

pytestmark = pytest.mark.django_db

DOCUMENTED = {
    "/api/v1/services": {"get", "post"},
    "/api/v1/services/{serviceId}": {"get", "patch", "delete"},
    "/api/v1/services/{serviceId}/balances": {"get", "post"},
    "/api/v1/services/{serviceId}/balances/{currency}": {"get", "patch", "delete"},
    "/api/v1/services/{serviceId}/balances/{currency}/history": {"get"},
    "/api/v1/services/{serviceId}/balances/sync": {"post"},
    "/api/v1/services/{serviceId}/provider": {"get", "put", "delete"},
    "/api/v1/services/{serviceId}/sync-runs": {"get"},
    "/api/v1/sync-runs/{syncRunId}": {"get"},
    "/api/v1/overview": {"get"},
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def client(viewer_client):
    return viewer_client


@pytest.fixture
def schema(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")  # plain JSON by default
    return json.loads(response.content)


def test_schema_is_openapi_3_and_describes_every_endpoint(schema):
    assert schema["openapi"].startswith("3.")
    for path, methods in DOCUMENTED.items():
        assert methods <= set(schema["paths"][path]), path
    # One form per path: the twin with a trailing slash is served but not documented.
    assert not [p for p in schema["paths"] if p.endswith("/")]


def test_schema_describes_the_bearer_scheme(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    operation = schema["paths"]["/api/v1/services/{serviceId}/balances"]["get"]
    assert {"bearerAuth": []} in operation["security"]


def test_schema_describes_the_error_envelope_on_every_operation(schema):
    error_body = schema["components"]["schemas"]["ErrorBody"]
    assert set(error_body["required"]) == {"code", "message", "details"}
    for path, methods in DOCUMENTED.items():
        for method in methods:
            responses = schema["paths"][path][method]["responses"]
            for status in ("400", "401", "403", "404", "429", "500"):
                assert responses[status]["content"]["application/json"]["schema"] == ERROR_REF
    patch = schema["paths"]["/api/v1/services/{serviceId}/balances/{currency}"]["patch"]
    assert "412" in patch["responses"] and "415" in patch["responses"]
    assert "If-Match" in [p["name"] for p in patch["parameters"]]


def test_balance_amounts_are_documented_as_numbers(schema):
    item = schema["components"]["schemas"]["BalanceItem"]
    assert item["properties"]["amount"]["type"] == "number"
    assert list(item["properties"])[:2] == ["currency", "amount"]
    listed = schema["components"]["schemas"]["BalanceList"]
    assert list(listed["properties"]) == ["serviceId", "balances"]


def test_schema_is_available_as_yaml_too(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert yaml.safe_load(response.content)["openapi"].startswith("3.")


def test_docs_are_served_without_any_cdn(client):
    response = client.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("drf_spectacular_sidecar" in a for a in assets)
    assert all(a.startswith("/") for a in assets), assets
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    bundle = next(a for a in assets if a.endswith("swagger-ui-bundle.js"))
    assert client.get(bundle).status_code == 200
    # Swagger UI's start-up script is a file too (the CSP allows no inline script).
    assert "<script>" not in html and "<style>" not in html
    script = next(a for a in assets if a.startswith("/api/v1/docs/?"))
    started = client.get(script.replace("&amp;", "&"))
    assert started.status_code == 200
    assert started["Content-Type"].startswith("application/javascript")
    assert "/api/v1/schema/" in started.content.decode()


def test_the_schema_needs_a_login():
    response = Client().get("/api/v1/schema/")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"openapi" not in response.content


def test_the_schema_refuses_a_bad_key(db):
    assert_error(api_client_with_key(BAD_API_KEY).get("/api/v1/schema/"), 401)


def test_an_api_key_reads_the_schema(viewer, make_api_key):
    response = api_client_with_key(make_api_key(viewer, read_only=True)).get("/api/v1/schema/")

    assert response.status_code == 200
    assert json.loads(response.content)["openapi"].startswith("3.")


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/docs/?script="])
def test_the_docs_send_an_anonymous_browser_to_the_login_page(url):
    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/api/v1/docs/")
