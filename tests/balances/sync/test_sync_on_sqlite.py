"""The sync on SQLite, the embedded default's database: the statements written by hand for
PostgreSQL (the claim, the lock, the history, the run's end) have portable counterparts, and a
sync and a batch give the same rows there."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import connection, connections

from balances.connections.actions import connection_save
from balances.models import Balance, BalanceChange, SyncRun
from balances.sync.batch import sync_execute_batch
from balances.sync.execute import sync_execute
from core.actors import Actor
from services.models import ProviderConnection
from tests.factories import ServiceFactory
from tests.provider_server import SYNCPAY_PATH, syncpay_body

D = Decimal
pytestmark = pytest.mark.django_db(databases=["default", "sqlite"])


@contextmanager
def sqlite_as_default():
    """SQLite as this thread's default connection for a while (as in
    tests/core/test_money_storage.py): the sync's own code writes and reads it."""
    handler = connections._connections
    saved = connections["default"]
    setattr(handler, "default", connections["sqlite"])
    try:
        assert connection.vendor == "sqlite"
        yield
    finally:
        setattr(handler, "default", saved)


def sqlite_service(base_url, codes):
    service = ServiceFactory()
    Balance.objects.bulk_create(
        [Balance(service=service, currency=c, updated_by_label="set-up") for c in codes]
    )
    connection_save(
        service=service,
        kind="syncpay",
        actor=Actor.system("tests"),
        base_url=base_url,
        credentials={"apiKey": "sk_test_synctests123"},
    )
    return service


def new_run(service):
    return SyncRun.objects.create(service=service, provider_kind="syncpay", trigger="command")


def test_a_sync_changes_then_confirms_the_balances_on_sqlite(provider):
    provider.route(SYNCPAY_PATH, syncpay_body(("USD", "12.34", "1.00"), ("EUR", "0.00000001", "0")))
    with sqlite_as_default():
        service = sqlite_service(provider.url, ["EUR", "USD"])
        first = new_run(service)
        assert sync_execute(run_public_id=first.public_id, service_id=service.pk).status == (
            "succeeded"
        )
        again = new_run(service)
        assert sync_execute(run_public_id=again.public_id, service_id=service.pk).status == (
            "succeeded"
        )
        balances = {b.currency: b for b in Balance.objects.filter(service=service)}
        first.refresh_from_db()
        again.refresh_from_db()
        changes = list(BalanceChange.objects.filter(service=service).order_by("currency"))
        connection_row = ProviderConnection.objects.get(service=service)

    assert (balances["USD"].available, balances["USD"].pending) == (D("12.34"), D("1.00"))
    assert balances["EUR"].available == D("0.00000001")
    assert {b.version for b in balances.values()} == {2}  # the first sync's change only
    assert {b.last_synced_at for b in balances.values()} == {again.finished_at}
    assert (first.status, first.attempts, first.updated_count) == ("succeeded", 1, 2)
    assert (again.status, again.unchanged_count, again.updated_count) == ("succeeded", 2, 0)
    assert [(c.currency, c.new_available, c.sync_run_id) for c in changes] == [
        ("EUR", D("0.00000001"), first.pk),
        ("USD", D("12.34"), first.pk),
    ]
    assert connection_row.last_success_at == again.finished_at
    assert connection_row.consecutive_failures == 0


def test_a_batch_syncs_each_service_once_on_sqlite(provider, settings):
    settings.SYNC_BATCH_THREADS = 2
    provider.route(SYNCPAY_PATH, syncpay_body(("USD", "5.00", "0.00")))
    with sqlite_as_default():
        services = [sqlite_service(provider.url, ["USD"]) for _ in range(3)]
        items = [(new_run(s).public_id, s.pk) for s in services]
        first = sync_execute_batch(items=items)
        again = sync_execute_batch(items=items)  # redelivered: nothing twice
        availables = set(
            Balance.objects.filter(service__in=services).values_list("available", flat=True)
        )
        history = BalanceChange.objects.filter(service__in=services, kind="synced").count()

    assert {o.status for o in first.values()} == {"succeeded"}
    assert {o.status for o in again.values()} == {"finished"}
    assert availables == {D("5.00")}
    assert history == 3
