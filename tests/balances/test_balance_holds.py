"""What payouts hold on a balance (``Balance.held``): the hold, debit and release actions that
payouts call, and what the hold means for the rest of the balance."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from balances import actions
from balances.actions.balance import deletion_blockers
from balances.models import Balance, BalanceChange, SyncRun
from balances.providers.base import CurrencyFigures, Snapshot
from balances.sync.apply import snapshot_apply
from core.actors import Actor, ActorType
from core.errors import NotAllowed, Unprocessable
from services.models import ProviderConnection
from tests.factories import BalanceFactory

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def balance(service):
    return BalanceFactory(service=service, currency="EUR", available=D("1000.00"))


def _fresh(balance: Balance) -> Balance:
    return Balance.objects.get(pk=balance.pk)


def test_available_for_payout_is_available_minus_held():
    assert Balance(available=D("1000.00"), held=D("101.75")).available_for_payout == D("898.25")
    assert Balance(available=D("5"), held=D("0")).available_for_payout == D("5")


def test_a_new_balance_holds_nothing(service):
    balance = actions.balance_create(
        service=service, currency="EUR", amount="10", actor=Actor.system("tests")
    )
    assert _fresh(balance).held == 0


def test_a_hold_moves_only_held(balance):
    before = _fresh(balance)

    actions.balance_hold_for_payout(balance=before, amount=D("101.75"))

    after = _fresh(balance)
    assert before.held == after.held == D("101.75")  # the caller's copy too
    assert after.available == D("1000.00")
    assert after.available_for_payout == D("898.25")
    assert (after.version, after.updated_at) == (balance.version, balance.updated_at)
    assert not BalanceChange.objects.exists(), "a hold is not a change of the figures"


def test_holds_add_up_and_may_take_exactly_what_is_available(balance):
    locked = _fresh(balance)
    actions.balance_hold_for_payout(balance=locked, amount=D("600.00"))
    actions.balance_hold_for_payout(balance=locked, amount=D("400.00"))
    assert _fresh(balance).held == D("1000.00")
    assert _fresh(balance).available_for_payout == 0


def test_a_hold_beyond_what_is_available_for_payout_is_refused(balance):
    locked = _fresh(balance)
    actions.balance_hold_for_payout(balance=locked, amount=D("900.00"))

    with pytest.raises(Unprocessable) as exc, transaction.atomic():
        actions.balance_hold_for_payout(balance=locked, amount=D("100.01"))

    assert exc.value.code == "insufficient_funds"
    assert _fresh(balance).held == D("900.00")


def test_a_debit_takes_available_and_releases_the_hold(service, balance):
    actions.balance_hold_for_payout(balance=_fresh(balance), amount=D("101.75"))

    paid = actions.balance_debit_for_payout(
        service=service, currency="EUR", amount=D("101.75"), payout_public_id="po_1"
    )

    after = _fresh(balance)
    assert paid.held == after.held == 0
    assert after.available == D("898.25")
    assert after.available_for_payout == D("898.25"), "a hold that is paid was already spent"
    assert after.version == balance.version + 1
    assert after.updated_by_type == ActorType.PAYOUT
    change = BalanceChange.objects.get()
    assert (change.kind, change.payout_public_id) == ("payout", "po_1")
    assert (change.old_available, change.new_available) == (D("1000.00"), D("898.25"))


def test_a_release_moves_only_held(service, balance):
    actions.balance_hold_for_payout(balance=_fresh(balance), amount=D("101.75"))
    actions.balance_hold_for_payout(balance=_fresh(balance), amount=D("50.00"))

    actions.balance_release_for_payout(service=service, currency="EUR", amount=D("101.75"))

    after = _fresh(balance)
    assert after.held == D("50.00")
    assert (after.available, after.version) == (D("1000.00"), balance.version)
    assert not BalanceChange.objects.exists()


def test_releasing_more_than_is_held_is_refused_by_the_database(service, balance):
    actions.balance_hold_for_payout(balance=_fresh(balance), amount=D("10.00"))

    with pytest.raises(IntegrityError), transaction.atomic():
        actions.balance_release_for_payout(service=service, currency="EUR", amount=D("10.01"))

    assert _fresh(balance).held == D("10.00")


def test_a_manual_edit_leaves_the_holds_alone(service, balance):
    actions.balance_hold_for_payout(balance=_fresh(balance), amount=D("101.75"))

    actions.balance_update(
        service=service,
        currency="EUR",
        amount="2000",
        expected_version=balance.version,
        actor=Actor.system("tests"),
        reason="Top-up",
    )

    after = _fresh(balance)
    assert (after.available, after.held) == (D("2000.00"), D("101.75"))
    assert after.available_for_payout == D("1898.25")


def test_a_balance_with_holds_cannot_be_deleted(service):
    balance = BalanceFactory(service=service, currency="KWD", available=D("100.000"))
    actions.balance_hold_for_payout(balance=_fresh(balance), amount=D("12.5"))

    assert deletion_blockers(_fresh(balance)) == ["open payouts hold 12.500 KWD of it"]
    with pytest.raises(NotAllowed) as exc:
        actions.balance_delete(service=service, currency="KWD", actor=Actor.system("tests"))
    assert exc.value.code == "not_deletable"
    assert "open payouts hold 12.500 KWD" in exc.value.message
    assert Balance.objects.filter(pk=balance.pk).exists()

    actions.balance_release_for_payout(service=service, currency="KWD", amount=D("12.5"))
    assert deletion_blockers(_fresh(balance)) == []


def test_a_sync_overwrites_the_figures_and_leaves_the_holds_alone(service, balance):
    actions.balance_hold_for_payout(balance=_fresh(balance), amount=D("101.75"))
    connection = ProviderConnection.objects.create(service=service, kind="syncpay")
    run = SyncRun.objects.create(
        service=service, provider_kind="syncpay", trigger="command", status="running"
    )
    snapshot = Snapshot(
        kind="syncpay",
        taken_at=datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
        figures=(CurrencyFigures("EUR", D("700.00"), D("0"), D("0"), {}),),
        omitted_means_zero=False,
        extras={},
    )

    snapshot_apply(run=run, connection=connection, snapshot=snapshot)

    after = _fresh(balance)
    assert (after.available, after.held) == (D("700.00"), D("101.75"))
    assert after.available_for_payout == D("598.25")
