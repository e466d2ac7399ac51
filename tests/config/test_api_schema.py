"""The OpenAPI schema at /api/v1/schema/ and the docs at /api/v1/docs/ (no CDN)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

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
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


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
    assert "/api/v1/schema/" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("drf_spectacular_sidecar" in a for a in assets)
    assert all(a.startswith("/") for a in assets), assets
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    bundle = next(a for a in assets if a.endswith("swagger-ui-bundle.js"))
    assert client.get(bundle).status_code == 200
