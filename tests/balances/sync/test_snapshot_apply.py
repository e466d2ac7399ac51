"""snapshot_apply: all or nothing, history only for changes, the documented rules for
currencies the provider does or does not report."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from balances.actions import balance_create, balance_update
from balances.models import Balance, BalanceChange, SyncRun
from balances.providers.base import CurrencyFigures, Snapshot
from balances.sync.apply import ConcurrentEdit, snapshot_apply
from core import sqlcombine
from core.actors import Actor
from services.models import ProviderConnection
from tests.factories import ServiceFactory

D = Decimal


def snap(kind: str, *figures: CurrencyFigures, omitted_means_zero=False, extras=None) -> Snapshot:
    return Snapshot(
        kind=kind,
        taken_at=datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
        figures=tuple(sorted(figures, key=lambda f: f.currency)),
        omitted_means_zero=omitted_means_zero,
        extras=extras or {},
    )


def fig(currency, available, pending="0", reserved="0", **extras) -> CurrencyFigures:
    return CurrencyFigures(currency, D(available), D(pending), D(reserved), extras)


@pytest.fixture
def setup(db, operator):
    def _setup(kind="syncpay", balances=(("EUR", "100.00"),), create_missing=False):
        service = ServiceFactory()
        for currency, amount in balances:
            balance_create(
                service=service, currency=currency, amount=D(amount), actor=Actor.for_user(operator)
            )
        connection = ProviderConnection.objects.create(
            service=service, kind=kind, create_missing_balances=create_missing
        )
        run = SyncRun.objects.create(
            service=service, provider_kind=kind, trigger="command", status="running"
        )
        return service, connection, run

    return _setup


def test_unchanged_values_write_no_history_but_are_confirmed(setup):
    service, connection, run = setup()
    before = BalanceChange.objects.count()
    snapshot_apply(run=run, connection=connection, snapshot=snap("syncpay", fig("EUR", "100.00")))
    balance = Balance.objects.get(service=service)
    assert BalanceChange.objects.count() == before
    assert balance.version == 1
    assert balance.last_synced_at is not None
    run.refresh_from_db()
    assert (run.status, run.unchanged_count, run.updated_count) == ("succeeded", 1, 0)


def test_changed_values_write_history_with_the_sync_as_actor(setup):
    service, connection, run = setup(kind="payop")
    snapshot_apply(
        run=run,
        connection=connection,
        snapshot=snap("payop", fig("EUR", "1000.50", "50.00", "200.00", referral=D("15.00"))),
    )
    balance = Balance.objects.get(service=service)
    assert (balance.available, balance.pending, balance.reserved) == (
        D("1000.50"),
        D("50.00"),
        D("200.00"),
    )
    assert balance.version == 2
    assert balance.updated_by_label == "sync:payop"
    change = BalanceChange.objects.filter(service=service, kind="synced").get()
    assert change.actor_label == "sync:payop"
    assert change.sync_run == run
    assert (change.old_available, change.new_available) == (D("100.00"), D("1000.50"))
    assert (change.old_reserved, change.new_reserved) == (D("0"), D("200.00"))
    run.refresh_from_db()
    assert run.updated_count == 1
    [entry] = run.result["currencies"]
    assert entry["available"] == {"old": "100.00", "new": "1000.50"}
    assert entry["pending"] == {"old": "0.00", "new": "50.00"}
    assert entry["providerFigures"] == {"referral": "15.00"}


def test_reported_currency_without_balance_is_skipped_and_listed(setup):
    service, connection, run = setup()
    snapshot_apply(
        run=run,
        connection=connection,
        snapshot=snap("syncpay", fig("EUR", "100.00"), fig("NGN", "5000.00")),
    )
    assert not Balance.objects.filter(service=service, currency="NGN").exists()
    run.refresh_from_db()
    assert run.skipped_count == 1
    assert run.result["skipped"][0]["currency"] == "NGN"


def test_reported_currency_is_created_when_create_missing_is_on(setup):
    service, connection, run = setup(create_missing=True)
    snapshot_apply(
        run=run,
        connection=connection,
        snapshot=snap("syncpay", fig("EUR", "100.00"), fig("USDT_TRC20", "0.12345678")),
    )
    created = Balance.objects.get(service=service, currency="USDT_TRC20")
    assert created.available == D("0.12345678")
    history = BalanceChange.objects.get(service=service, currency="USDT_TRC20")
    assert (history.kind, history.actor_label, history.balance_id) == (
        "created",
        "sync:syncpay",
        created.pk,
    )
    run.refresh_from_db()
    assert run.created_count == 1


def test_syncpay_omitted_currency_becomes_zero(setup):
    service, connection, run = setup(balances=(("USD", "10.00"), ("GHS", "5.00")))
    snapshot_apply(
        run=run,
        connection=connection,
        snapshot=snap("syncpay", fig("USD", "10.00"), omitted_means_zero=True),
    )
    assert Balance.objects.get(service=service, currency="GHS").available == 0
    change = BalanceChange.objects.get(service=service, currency="GHS", kind="synced")
    assert "leaves out zero balances" in change.reason


@pytest.mark.parametrize("kind", ["finix", "wise", "payop"])
def test_other_providers_leave_unreported_currency_unchanged_and_list_it(setup, kind):
    service, connection, run = setup(kind=kind, balances=(("USD", "10.00"), ("GHS", "5.00")))
    snapshot_apply(run=run, connection=connection, snapshot=snap(kind, fig("USD", "10.00")))
    assert Balance.objects.get(service=service, currency="GHS").available == D("5.00")
    run.refresh_from_db()
    assert run.not_reported_count == 1
    assert run.result["notReported"] == ["GHS"]


def test_replacing_a_value_set_by_hand_is_said(setup, operator, settings):
    settings.SYNC_PROTECTION_HOURS = 0  # without protection a sync overwrites, and says so
    service, connection, run = setup()
    balance_update(
        service=service,
        currency="EUR",
        amount=D("150.00"),
        expected_version=1,
        actor=Actor.for_user(operator),
        reason="manual fix",
    )
    snapshot_apply(run=run, connection=connection, snapshot=snap("syncpay", fig("EUR", "90.00")))
    run.refresh_from_db()
    assert run.result["replacedManualEdits"][0]["currency"] == "EUR"
    assert run.result["replacedManualEdits"][0]["by"] == operator.username
    change = BalanceChange.objects.get(service=service, kind="synced")
    assert f"set by hand by {operator.username}" in change.reason


def test_edit_after_the_versions_were_read_aborts_the_apply(setup, operator):
    service, connection, run = setup()
    expected = {"EUR": 1}
    balance_update(
        service=service,
        currency="EUR",
        amount=D("150.00"),
        expected_version=1,
        actor=Actor.for_user(operator),
        reason="while the provider was read",
    )
    with pytest.raises(ConcurrentEdit):
        snapshot_apply(
            run=run,
            connection=connection,
            snapshot=snap("syncpay", fig("EUR", "90.00")),
            expected_versions=expected,
        )
    assert Balance.objects.get(service=service).available == D("150.00")
    run.refresh_from_db()
    assert run.status == "running"


def test_apply_is_all_or_nothing(setup, monkeypatch):
    service, connection, run = setup(balances=(("EUR", "1.00"), ("USD", "2.00")))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    # The history is written by hand (core/sqlcombine.py), after the balances.
    monkeypatch.setattr(sqlcombine, "insert_rows", broken)
    with pytest.raises(RuntimeError):
        snapshot_apply(
            run=run,
            connection=connection,
            snapshot=snap("syncpay", fig("EUR", "5.00"), fig("USD", "6.00")),
        )
    assert sorted(Balance.objects.filter(service=service).values_list("available", flat=True)) == [
        D("1.00"),
        D("2.00"),
    ]
    run.refresh_from_db()
    assert run.status == "running"


def _apply_queries(setup, count: int) -> int:
    codes = [
        "AED",
        "AUD",
        "BRL",
        "CAD",
        "CHF",
        "CNY",
        "CZK",
        "DKK",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "INR",
        "JPY",
        "KWD",
        "MXN",
        "NGN",
        "NOK",
        "PLN",
        "USD",
    ][:count]
    _service, connection, run = setup(
        balances=[(c, "1") for c in codes[: count // 2]], create_missing=True
    )
    snapshot = snap("syncpay", *[fig(c, "7") for c in codes])
    with CaptureQueriesContext(db_connection) as ctx:
        snapshot_apply(run=run, connection=connection, snapshot=snapshot, expected_versions=None)
    return len(ctx.captured_queries)


def test_query_count_does_not_grow_with_the_number_of_currencies(setup):
    # lock balances, bulk update, bulk create balances, bulk create history, finish run,
    # connection state (+ savepoint statements of the atomic block)
    assert _apply_queries(setup, 4) == _apply_queries(setup, 20)
