"""Every services and provider-connection endpoint, for every kind of caller."""

from __future__ import annotations

import pytest

from balances.connections.actions import connection_save
from core.actors import Actor
from tests.config.helpers import (
    ADMINS,
    CALLERS,
    READERS,
    api_client_for,
    check_matrix_response,
    send,
)
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

S = "/api/v1/services/{sid}"
PROVIDER = {"kind": "wise", "credentials": {"apiToken": "t0k3n"}, "options": {"profileId": "42"}}
# (method, path, body, callers allowed, status on success)
ENDPOINTS = [
    ("get", "/api/v1/services", None, READERS, 200),
    ("post", "/api/v1/services", {"name": "New", "country": "GH"}, ADMINS, 201),
    ("get", S, None, READERS, 200),
    ("patch", S, {"name": "Renamed"}, ADMINS, 200),
    ("delete", S, None, ADMINS, 204),
    ("get", S + "/provider", None, READERS, 200),
    ("put", S + "/provider", PROVIDER, ADMINS, 200),
    ("delete", S + "/provider", None, ADMINS, 204),
]


@pytest.fixture
def world(db):
    service = ServiceFactory()
    connection_save(
        service=service, kind="syncpay", actor=Actor.system(), credentials={"apiKey": "sk_test_x"}
    )
    return {"sid": service.public_id}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path", "data", "allowed", "success"),
    ENDPOINTS,
    ids=[f"{m.upper()} {p}" for m, p, *_ in ENDPOINTS],
)
def test_endpoint_by_caller(request, world, caller, method, path, data, allowed, success):
    client = api_client_for(request, caller)

    response = send(client, method, path.format(**world), data)

    check_matrix_response(
        response, caller, allowed=allowed, writes=method != "get", success=success
    )
