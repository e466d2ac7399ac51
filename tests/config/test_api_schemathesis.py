"""Property-based run of the whole API against its own OpenAPI schema (schemathesis).

Requests are generated from /api/v1/schema/ (valid and invalid ones), sent through the WSGI
application as an admin, and every response must: not be a 5xx, use a documented status code
and content type, carry the documented headers, and match the documented body schema.  Path
parameters are drawn half the time from real objects, so that operations get past the 404.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from balances.connections.actions import connection_save
from balances.models import SyncRun
from core.actors import Actor
from tests.factories import BalanceFactory, ServiceFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def admin_key(admin, make_api_key, settings):
    # Hundreds of requests in a few seconds: lift the throttle for this run only.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"apikey": "100000/min", "anon": "100000/min"},
    }
    return make_api_key(admin)


def served_schema() -> dict:
    """The document /api/v1/schema/ serves, built the same way (generator and JSON renderer),
    at collection: the endpoint needs a login, and there is no database yet to hold a key."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(raw))


# (schemathesis.pytest.from_fixture would load it per test, but its lazy loader does not
# support pytest 9 yet.)
schema = schemathesis.openapi.from_dict(served_schema())
schema.app = get_wsgi_application()
schema.location = "/api/v1/schema/"
REAL_IDS: dict[str, str] = {}  # filled by the `world` fixture before each operation's test


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    known = {k: REAL_IDS[k] for k in path_parameters or {} if k in REAL_IDS}
    if not known:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, **known}])


@pytest.fixture
def world(db):
    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR", available=Decimal("12500.75"))
    BalanceFactory(service=service, currency="JPY", available=Decimal("5000"))
    connection_save(
        service=service, kind="syncpay", actor=Actor.system(), credentials={"apiKey": "sk_test_1"}
    )
    run = SyncRun.objects.create(
        service=service, provider_kind="syncpay", trigger="api", status="succeeded"
    )
    REAL_IDS.update(serviceId=service.public_id, currency="EUR", syncRunId=run.public_id)
    # The WSGI handler would close the test's connection (and its transaction) at the end of
    # each request; Django's own test client suspends this the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    REAL_IDS.clear()


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, world, admin_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_key}"}, checks=CHECKS)


def test_the_schema_under_test_is_the_one_served(viewer_client):
    response = viewer_client.get("/api/v1/schema/")

    assert response.status_code == 200
    assert json.loads(response.content) == served_schema()
