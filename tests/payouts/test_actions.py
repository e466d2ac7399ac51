"""Creating payouts (payouts/actions.py): the checks in their order, holds, fees fixed at
creation, idempotency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances.models import BalanceChange
from core.errors import Conflict, NotAllowed, NotFound, Unprocessable, ValidationFailed
from payouts import actions
from payouts.models import Payout
from services.fees import actions as fee_actions
from tests.factories import BalanceFactory, ServiceFactory
from tests.payouts.conftest import held_on

pytestmark = pytest.mark.django_db
D = Decimal


def create(service, amount, *, currency="EUR", destination="acct-1", key=None, actor, **kw):
    return actions.payout_create(
        service=service,
        currency=currency,
        amount=amount,
        destination=destination,
        idempotency_key=key,
        actor=actor,
        **kw,
    )


def test_a_payout_is_priced_and_holds_amount_plus_fee(priced_service, funded, system_actor):
    payout, created = create(priced_service, "100.00", actor=system_actor)
    assert created
    assert payout.public_id.startswith("po_")
    assert (payout.status, payout.amount, payout.fee, payout.total) == (
        "pending",
        D("100.00"),
        D("1.75"),
        D("101.75"),
    )
    assert held_on(priced_service.pk) == D("101.75")
    assert Payout.objects.filter(service=priced_service, status__in=Payout.OPEN).count() == 1
    funded.refresh_from_db()
    assert funded.available == D("1000.00"), "creation holds; it does not debit"
    assert funded.available_for_payout == D("898.25")
    assert funded.version == 1, "a hold is not an edit of the figures"
    assert not BalanceChange.objects.filter(kind="payout").exists()
    event = payout.events.get()
    assert (event.from_status, event.to_status, event.actor_label) == ("", "pending", "tests")


@pytest.mark.parametrize("amount", ["100.001", "1e-3", "abc", "", None, 100.5])
def test_an_amount_the_currency_cannot_hold_is_refused_never_rounded(
    priced_service, funded, system_actor, amount
):
    with pytest.raises(ValidationFailed) as exc:
        create(priced_service, amount, actor=system_actor)
    assert exc.value.field == "amount"
    assert not Payout.objects.exists()


@pytest.mark.parametrize("amount", ["0", "0.00", "-5.00"])
def test_the_amount_must_be_positive(priced_service, funded, system_actor, amount):
    with pytest.raises(ValidationFailed):
        create(priced_service, amount, actor=system_actor)


def test_the_balance_must_exist(priced_service, funded, system_actor):
    with pytest.raises(NotFound) as exc:
        create(priced_service, "10.00", currency="USD", actor=system_actor)
    assert exc.value.code == "balance_not_found"


@pytest.mark.parametrize(
    ("raw", "field"),
    [({"currency": "XXQ"}, "currency"), ({"destination": "  "}, "destination")],
)
def test_currency_and_destination_are_checked(priced_service, funded, system_actor, raw, field):
    kwargs = {"currency": "EUR", "destination": "acct-1", **raw}
    with pytest.raises(ValidationFailed) as exc:
        create(priced_service, "10.00", actor=system_actor, **kwargs)
    assert exc.value.field == field


def test_below_the_rules_minimum_is_refused_with_the_figures(priced_service, funded, system_actor):
    with pytest.raises(Unprocessable) as exc:
        create(priced_service, "4.99", actor=system_actor)
    assert exc.value.code == "below_minimum" and exc.value.http_status == 422
    assert "5.00 EUR" in exc.value.message and "4.99" in exc.value.message
    assert exc.value.details["minimum"] == "5.00"
    payout, _ = create(priced_service, "5.00", actor=system_actor)
    assert payout.fee == D("0.50")  # 1.5 % of 5 + 0.25 = 0.325, raised to the minimum


@pytest.mark.parametrize(
    ("currency", "too_little", "enough"),
    [
        ("USD", "9.99", "10.00"),
        ("NGN", "4999.99", "5000.00"),
        ("GHS", "49.99", "50.00"),
        ("KES", "499.99", "500.00"),
        ("USDT_TRC20", "9.99999999", "10"),
        ("USDT_ERC20", "49.99999999", "50"),
    ],
)
def test_without_a_rule_the_platform_minimums_apply(system_actor, currency, too_little, enough):
    service = ServiceFactory()  # no fee profile: platform defaults
    BalanceFactory(service=service, currency=currency, available=D("100000"))
    with pytest.raises(Unprocessable) as exc:
        create(service, too_little, currency=currency, actor=system_actor)
    assert exc.value.code == "below_minimum"
    payout, _ = create(service, enough, currency=currency, actor=system_actor)
    assert payout.fee == 0


def test_other_currencies_have_no_platform_minimum(system_actor):
    service = ServiceFactory()
    BalanceFactory(service=service, currency="JPY", available=D("1000"))
    payout, _ = create(service, "1", currency="JPY", actor=system_actor)
    assert (payout.amount, payout.fee) == (D(1), D(0))


def test_insufficient_funds_names_the_figures(priced_service, system_actor):
    BalanceFactory(service=priced_service, currency="EUR", available=D("90.00"))
    with pytest.raises(Unprocessable) as exc:
        create(priced_service, "100.00", actor=system_actor)
    assert exc.value.code == "insufficient_funds" and exc.value.http_status == 422
    assert "needs 101.75 EUR" in exc.value.message
    assert "90.00 available for payout" in exc.value.message
    assert exc.value.details["availableForPayout"] == "90.00"
    assert not Payout.objects.exists()


def test_holds_of_open_payouts_reduce_what_is_available_for_payout(priced_service, system_actor):
    BalanceFactory(service=priced_service, currency="EUR", available=D("300.00"))
    create(priced_service, "100.00", actor=system_actor)
    create(priced_service, "100.00", actor=system_actor)
    with pytest.raises(Unprocessable) as exc:
        create(priced_service, "100.00", actor=system_actor)
    assert "96.50 available for payout" in exc.value.message
    assert "203.50 on hold" in exc.value.message
    # Exactly what is left (amount + fee == available for payout) is allowed:
    # 94.83 + (1.5 % of 94.83 = 1.42245, + 0.25 = 1.67245 -> 1.67) = 96.50.
    last, _ = create(priced_service, "94.83", actor=system_actor)
    assert last.total == D("96.50")
    assert held_on(priced_service.pk) == D("300.00")


def test_ended_payouts_no_longer_hold(priced_service, system_actor):
    BalanceFactory(service=priced_service, currency="EUR", available=D("110.00"))
    first, _ = create(priced_service, "100.00", actor=system_actor)
    actions.payout_cancel(payout=first, actor=system_actor)
    second, _ = create(priced_service, "100.00", actor=system_actor)
    assert second.status == "pending"


def test_the_fee_is_fixed_at_creation(priced_service, funded, fee_profile, system_actor):
    payout, _ = create(priced_service, "100.00", actor=system_actor)
    rule = fee_profile.rules.get()
    fee_actions.fee_rule_update(
        rule=rule, actor=system_actor, operation="payout", currency="EUR", percentage="5"
    )
    payout.refresh_from_db()
    assert payout.fee == D("1.75")
    later, _ = create(priced_service, "100.00", actor=system_actor)
    assert later.fee == D("5.00")


def test_a_fee_that_changed_since_the_preview_is_refused(priced_service, funded, system_actor):
    with pytest.raises(Conflict) as exc:
        create(priced_service, "100.00", actor=system_actor, expected_fee=D("1.50"))
    assert exc.value.code == "fee_changed"
    payout, _ = create(priced_service, "100.00", actor=system_actor, expected_fee=D("1.75"))
    assert payout.fee == D("1.75")


def test_an_inactive_service_cannot_pay_out(priced_service, funded, system_actor):
    priced_service.status = "suspended"
    priced_service.save()
    with pytest.raises(NotAllowed) as exc:
        create(priced_service, "100.00", actor=system_actor)
    assert exc.value.code == "service_not_active"


# --- idempotency --------------------------------------------------------------------------


def test_the_same_key_and_body_return_the_first_payout(priced_service, funded, system_actor):
    first, created = create(priced_service, "100.00", key="k-1", actor=system_actor)
    again, created_again = create(priced_service, "100", key="k-1", actor=system_actor)
    assert created and not created_again
    assert again.pk == first.pk
    assert Payout.objects.count() == 1
    assert held_on(priced_service.pk) == D("101.75")


@pytest.mark.parametrize(
    "change",
    [{"amount": "100.01"}, {"destination": "acct-2"}, {"currency": "USD"}],
)
def test_the_same_key_with_another_body_is_a_conflict(priced_service, funded, system_actor, change):
    BalanceFactory(service=priced_service, currency="USD", available=D("500.00"))
    create(priced_service, "100.00", key="k-1", actor=system_actor)
    body = {"amount": "100.00", "destination": "acct-1", "currency": "EUR", **change}
    with pytest.raises(Conflict) as exc:
        create(
            priced_service,
            body["amount"],
            currency=body["currency"],
            destination=body["destination"],
            key="k-1",
            actor=system_actor,
        )
    assert exc.value.code == "idempotency_key_reused" and exc.value.http_status == 409
    assert Payout.objects.count() == 1


def test_a_replay_is_answered_even_after_funds_ran_out(priced_service, system_actor):
    BalanceFactory(service=priced_service, currency="EUR", available=D("101.75"))
    first, _ = create(priced_service, "100.00", key="k-1", actor=system_actor)
    again, created = create(priced_service, "100.00", key="k-1", actor=system_actor)
    assert again.pk == first.pk and not created


def test_keys_are_per_service(priced_service, funded, system_actor):
    other = ServiceFactory(fee_profile=priced_service.fee_profile)
    BalanceFactory(service=other, currency="EUR", available=D("500.00"))
    a, _ = create(priced_service, "100.00", key="shared", actor=system_actor)
    b, created = create(other, "100.00", key="shared", actor=system_actor)
    assert created and a.pk != b.pk


def test_a_blank_key_is_no_key(priced_service, funded, system_actor):
    a, _ = create(priced_service, "10.00", key="  ", actor=system_actor)
    b, created = create(priced_service, "10.00", key="", actor=system_actor)
    assert created and a.pk != b.pk and a.idempotency_key is None
