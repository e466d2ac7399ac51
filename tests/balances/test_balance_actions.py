"""The domain module that every balance write goes through: create, update, delete, history."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from balances import actions
from balances.models import Balance, BalanceChange
from core.actors import Actor, ActorType
from core.errors import AlreadyExists, NotAllowed, NotFound, StaleVersion, ValidationFailed
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def actor(operator):
    return Actor.for_user(operator)


def _history(service, currency):
    return list(
        BalanceChange.objects.filter(service=service, currency=currency).order_by(
            "created_at", "id"
        )
    )


# --- create ------------------------------------------------------------------------------


def test_create_writes_the_balance_and_its_history(service, operator, actor):
    balance = actions.balance_create(
        service=service, currency="eur", amount="12500.75", actor=actor, reason="Opening amount"
    )

    balance.refresh_from_db()
    assert balance.currency == "EUR"
    assert balance.available == Decimal("12500.75")
    assert balance.pending == balance.reserved == Decimal(0)
    assert balance.version == 1
    assert balance.updated_by_label == "otto"
    assert balance.updated_by_type == ActorType.USER
    [entry] = _history(service, "EUR")
    assert entry.kind == BalanceChange.Kind.CREATED
    assert entry.balance == balance
    assert entry.old_available is None
    assert entry.new_available == Decimal("12500.75")
    assert entry.actor_user == operator
    assert entry.actor_label == "otto"
    assert entry.reason == "Opening amount"
    assert entry.version == 1


@pytest.mark.parametrize("amount", [None, ""])
def test_create_without_an_opening_amount_starts_at_zero(service, actor, amount):
    balance = actions.balance_create(service=service, currency="JPY", amount=amount, actor=actor)
    assert balance.available == Decimal(0)


@pytest.mark.parametrize(
    ("currency", "amount", "decimals"),
    [
        ("EUR", "10.005", "2"),
        ("JPY", "1.5", "whole"),
        ("KWD", "1.0001", "3"),
        ("USDT_TRC20", "0.000000001", "8"),
    ],
)
def test_create_refuses_an_amount_more_precise_than_the_currency(
    service, actor, currency, amount, decimals
):
    with pytest.raises(ValidationFailed) as exc:
        actions.balance_create(service=service, currency=currency, amount=amount, actor=actor)
    assert exc.value.field == "amount"
    assert decimals in exc.value.message
    assert not Balance.objects.exists()
    assert not BalanceChange.objects.exists()


@pytest.mark.parametrize(
    ("currency", "amount"),
    [
        ("KWD", "1234.567"),
        ("USDT_TRC20", "500.12345678"),
        ("USDT_ERC20", "0.00000001"),
        ("JPY", "5000"),
    ],
)
def test_create_keeps_every_digit_the_currency_allows(service, actor, currency, amount):
    balance = actions.balance_create(service=service, currency=currency, amount=amount, actor=actor)
    balance.refresh_from_db()
    assert balance.available == Decimal(amount)


@pytest.mark.parametrize("currency", ["ABC", "", "  "])
def test_create_refuses_an_unknown_currency(service, actor, currency):
    with pytest.raises(ValidationFailed) as exc:
        actions.balance_create(service=service, currency=currency, actor=actor)
    assert exc.value.field == "currency"
    assert not Balance.objects.exists()


def test_create_of_a_currency_the_service_has_is_refused(service, actor, eur_balance):
    with pytest.raises(AlreadyExists) as exc:
        actions.balance_create(service=service, currency="EUR", amount="1", actor=actor)
    assert "already has a EUR balance" in exc.value.message
    assert Balance.objects.filter(service=service).count() == 1
    eur_balance.refresh_from_db()
    assert eur_balance.available == Decimal("100.00")
    assert not BalanceChange.objects.exists()


def test_the_database_allows_one_balance_per_service_and_currency(service, eur_balance):
    # A raw create, past the domain module: the constraint itself refuses it.
    with pytest.raises(IntegrityError), transaction.atomic():
        Balance.objects.create(service=service, currency="EUR")
    # The same currency on another service is fine.
    Balance.objects.create(service=ServiceFactory(), currency="EUR")


def test_negative_amounts_are_stored(service, actor):
    balance = actions.balance_create(service=service, currency="USD", amount="-120.00", actor=actor)
    balance.refresh_from_db()
    assert balance.available == Decimal("-120.00")


def test_a_failure_after_creating_leaves_neither_balance_nor_history(service, actor, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("history store down")

    monkeypatch.setattr(BalanceChange.objects, "create", broken)
    with pytest.raises(RuntimeError):
        actions.balance_create(service=service, currency="EUR", amount="5", actor=actor)
    assert not Balance.objects.exists()


# --- update ------------------------------------------------------------------------------


def test_update_applies_the_amount_and_records_old_and_new(service, operator, actor, eur_balance):
    balance = actions.balance_update(
        service=service,
        currency="EUR",
        amount="250.50",
        expected_version=1,
        actor=actor,
        reason="Settlement batch 42",
    )
    assert balance.available == Decimal("250.50")
    assert balance.version == 2
    eur_balance.refresh_from_db()
    assert eur_balance.available == Decimal("250.50")
    assert eur_balance.version == 2
    assert eur_balance.updated_by_label == "otto"
    [entry] = _history(service, "EUR")
    assert entry.kind == BalanceChange.Kind.UPDATED
    assert (entry.old_available, entry.new_available) == (Decimal("100.00"), Decimal("250.50"))
    assert entry.reason == "Settlement batch 42"
    assert entry.actor_user == operator
    assert entry.version == 2


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_update_requires_a_reason(service, actor, eur_balance, reason):
    with pytest.raises(ValidationFailed) as exc:
        actions.balance_update(
            service=service,
            currency="EUR",
            amount="1",
            expected_version=1,
            actor=actor,
            reason=reason,
        )
    assert exc.value.field == "reason"
    eur_balance.refresh_from_db()
    assert eur_balance.available == Decimal("100.00")
    assert not BalanceChange.objects.exists()


def test_update_refuses_an_amount_more_precise_than_the_currency(service, actor):
    BalanceFactory(service=service, currency="JPY", available=Decimal(5000))
    with pytest.raises(ValidationFailed):
        actions.balance_update(
            service=service,
            currency="JPY",
            amount="4999.5",
            expected_version=1,
            actor=actor,
            reason="typo",
        )
    assert Balance.objects.get(currency="JPY").available == Decimal(5000)


def test_update_to_a_negative_amount_is_allowed(service, actor, eur_balance):
    actions.balance_update(
        service=service,
        currency="EUR",
        amount="-0.01",
        expected_version=1,
        actor=actor,
        reason="Provider reports an overdraft",
    )
    eur_balance.refresh_from_db()
    assert eur_balance.available == Decimal("-0.01")


def test_stale_update_is_refused_and_overwrites_nothing(service, actor, eur_balance):
    actions.balance_update(
        service=service,
        currency="EUR",
        amount="200",
        expected_version=1,
        actor=Actor.system("sync:wise"),
        reason="first",
    )

    with pytest.raises(StaleVersion) as exc:
        actions.balance_update(
            service=service,
            currency="EUR",
            amount="150",
            expected_version=1,
            actor=actor,
            reason="second, based on an old page",
        )

    assert "it is now 200.00 EUR" in exc.value.message
    assert "Nothing was overwritten" in exc.value.message
    assert exc.value.current.available == Decimal("200")
    assert exc.value.current.version == 2
    assert exc.value.details == {"currentVersion": 2, "currentAmount": "200.00"}
    eur_balance.refresh_from_db()
    assert eur_balance.available == Decimal("200")
    assert eur_balance.version == 2
    assert len(_history(service, "EUR")) == 1


def test_update_to_the_same_amount_writes_nothing(service, actor, eur_balance):
    balance = actions.balance_update(
        service=service,
        currency="EUR",
        amount="100.00",
        expected_version=1,
        actor=actor,
        reason="no-op",
    )
    assert balance.version == 1
    assert not BalanceChange.objects.exists()


def test_update_of_a_missing_balance_is_not_found(service, actor):
    with pytest.raises(NotFound):
        actions.balance_update(
            service=service, currency="EUR", amount="1", expected_version=1, actor=actor, reason="x"
        )


def test_a_failure_after_updating_leaves_neither_new_amount_nor_history(
    service, actor, eur_balance, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("history store down")

    monkeypatch.setattr(BalanceChange.objects, "create", broken)
    with pytest.raises(RuntimeError):
        actions.balance_update(
            service=service,
            currency="EUR",
            amount="999",
            expected_version=1,
            actor=actor,
            reason="x",
        )
    eur_balance.refresh_from_db()
    assert eur_balance.available == Decimal("100.00")
    assert eur_balance.version == 1


# --- delete ------------------------------------------------------------------------------


def test_delete_removes_the_balance_and_keeps_its_history_readable(service, actor):
    actions.balance_create(service=service, currency="GBP", amount="10", actor=actor)
    actions.balance_update(
        service=service, currency="GBP", amount="20", expected_version=1, actor=actor, reason="up"
    )

    actions.balance_delete(
        service=service, currency="GBP", actor=actor, expected_version=2, reason="Closed account"
    )

    assert not Balance.objects.filter(service=service, currency="GBP").exists()
    created, updated, deleted = _history(service, "GBP")
    assert [created.kind, updated.kind, deleted.kind] == ["created", "updated", "deleted"]
    assert created.balance is None and updated.balance is None  # SET_NULL, rows kept
    assert deleted.old_available == Decimal("20")
    assert deleted.new_available is None
    assert deleted.reason == "Closed account"


@pytest.mark.parametrize(
    ("field", "shown"),
    [("pending", "it has 5.00 EUR pending"), ("reserved", "it has 0.01 EUR reserved")],
)
def test_delete_with_funds_pending_or_reserved_is_refused(service, actor, field, shown):
    BalanceFactory(service=service, currency="EUR", **{field: Decimal(shown.split()[2])})
    with pytest.raises(NotAllowed) as exc:
        actions.balance_delete(service=service, currency="EUR", actor=actor)
    assert shown in exc.value.message
    assert exc.value.details["reasons"] == [shown]
    assert Balance.objects.filter(service=service, currency="EUR").exists()
    assert not BalanceChange.objects.exists()


def test_delete_of_a_balance_changed_meanwhile_is_refused(service, actor, eur_balance):
    actions.balance_update(
        service=service, currency="EUR", amount="1", expected_version=1, actor=actor, reason="x"
    )
    with pytest.raises(StaleVersion):
        actions.balance_delete(service=service, currency="EUR", actor=actor, expected_version=1)
    assert Balance.objects.filter(pk=eur_balance.pk).exists()


def test_a_failure_after_deleting_keeps_the_balance(service, actor, eur_balance, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Balance, "delete", broken)
    with pytest.raises(RuntimeError):
        actions.balance_delete(service=service, currency="EUR", actor=actor)
    assert Balance.objects.filter(pk=eur_balance.pk).exists()
    assert not BalanceChange.objects.exists()


# --- history -----------------------------------------------------------------------------


def test_history_is_append_only(service, actor, eur_balance):
    actions.balance_update(
        service=service, currency="EUR", amount="1", expected_version=1, actor=actor, reason="x"
    )
    entry = BalanceChange.objects.get()
    entry.reason = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    assert BalanceChange.objects.get().reason == "x"


def test_history_is_kept_per_actor_kind(service, eur_balance):
    actions.balance_update(
        service=service,
        currency="EUR",
        amount="1",
        expected_version=None,
        actor=Actor.for_payout("pay_abc"),
        reason="Payout pay_abc",
    )
    entry = BalanceChange.objects.get()
    assert entry.actor_type == ActorType.PAYOUT
    assert entry.actor_label == "payout:pay_abc"
    assert entry.payout_public_id == "pay_abc"
    assert entry.actor_user is None
