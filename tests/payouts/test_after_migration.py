"""Payouts go on in a process that outlives a migration changing a column their one
statement returns (core.rawsql runs a refused prepared statement again on a new connection;
tests/core/test_prepared_after_migration.py has the details)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from balances.models import Balance
from tests.db_helpers import elsewhere

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["services_service.name:200", "balances_balance.updated_by_label:150"])
def longer_column(request):
    """A migration that lengthens a column: the service's name, which the API's and the
    payout's reads return, or a balance's, which only the hold's CTE returns; undone
    afterwards."""
    column, length = request.param.split(":")
    table, name = column.split(".")
    alter = f"ALTER TABLE {table} ALTER COLUMN {name} TYPE varchar({{}})"
    elsewhere(alter.format(int(length) + 1))
    yield
    connection.close()
    elsewhere(alter.format(length))


@pytest.fixture(params=[False, True], ids=["unwatched", "watched"])
def warm_payout(request, priced_service, funded, operator_api):
    """A first payout, which prepares the statements.  Watched: an alert rule (never met)
    watches the balance, so payouts take the transactional path, whose hold returns the
    balance's columns inside a transaction."""
    if request.param:
        from alerts.actions import rule_create
        from core.actors import Actor

        rule_create(
            service=priced_service,
            currency="EUR",
            kind="available_for_payout_below",
            threshold="1.00",
            actor=Actor.system("tests"),
        )
    url = f"/api/v1/services/{priced_service.public_id}/payouts"
    body = {"currency": "EUR", "amount": "100.00", "destination": "IBAN DE89 3704"}
    first = operator_api.post(url, body, content_type="application/json")
    assert first.status_code == 201, first.content
    return url, body, request.param


def test_api_payouts_go_on_after_a_migration_changes_a_column_they_return(
    warm_payout, longer_column, operator_api, funded
):
    url, body, watched = warm_payout
    response = operator_api.post(
        url, body, content_type="application/json", headers={"Idempotency-Key": "after-1"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    # The path taken: the transactional one while a rule watches the balance.
    assert Balance.objects.get(pk=funded.pk).watched is watched
    # Both payouts hold their amount and fee (1.75 each): nothing lost, nothing twice.
    assert Balance.objects.get(pk=funded.pk).held == Decimal("203.50")
