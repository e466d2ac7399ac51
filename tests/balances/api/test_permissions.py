"""Every balances and sync endpoint, for every kind of caller."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances.connections.actions import connection_save
from balances.models import SyncRun
from core.actors import Actor
from tests.config.helpers import (
    CALLERS,
    OPERATORS,
    READERS,
    api_client_for,
    check_matrix_response,
    send,
)
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = pytest.mark.django_db

S = "/api/v1/services/{sid}"
# (method, path, body, callers allowed, status on success)
ENDPOINTS = [
    ("get", S + "/balances", None, READERS, 200),
    ("post", S + "/balances", {"currency": "USD", "amount": "1.00"}, OPERATORS, 201),
    ("get", S + "/balances/EUR", None, READERS, 200),
    ("patch", S + "/balances/EUR", {"amount": "2.00", "reason": "r"}, OPERATORS, 200),
    ("delete", S + "/balances/EUR", None, OPERATORS, 204),
    ("get", S + "/balances/EUR/history", None, READERS, 200),
    ("post", S + "/balances/sync", None, OPERATORS, 202),
    ("get", S + "/sync-runs", None, READERS, 200),
    ("get", "/api/v1/sync-runs/{run}", None, READERS, 200),
]


@pytest.fixture
def world(db):
    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR", available=Decimal("10"))
    connection_save(
        service=service,
        kind="syncpay",
        actor=Actor.system(),
        credentials={"apiKey": "sk_test_matrix"},
    )
    run = SyncRun.objects.create(
        service=service, provider_kind="syncpay", trigger="api", status="succeeded"
    )
    return {"sid": service.public_id, "run": run.public_id}


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
