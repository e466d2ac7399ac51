"""The payout serializers write their fields out directly (payouts/api/serializers.py): what
they give must stay what DRF's generic path gives for the same declared fields, byte for
byte once rendered, key order included, in every state a payout can be in."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework import serializers

from core.api.renderers import DecimalJSONRenderer
from payouts import queries
from payouts.api import serializers as s
from payouts.models import Payout
from tests.factories import PayoutFactory, ServiceFactory

pytestmark = pytest.mark.django_db


class GenericEventOut(s.PayoutEventOut):
    to_representation = serializers.Serializer.to_representation


class GenericPayoutOut(s.PayoutOut):
    to_representation = serializers.Serializer.to_representation


class GenericPayoutDetailOut(s.PayoutDetailOut):
    events = GenericEventOut(many=True, source="timeline")
    to_representation = serializers.Serializer.to_representation


def rendered(data) -> bytes:
    return DecimalJSONRenderer().render(data)


@pytest.fixture
def payouts_in_every_state():
    service = ServiceFactory()
    made = [
        PayoutFactory(service=service, status=status, amount=Decimal(amount), currency=currency)
        for status, amount, currency in [
            (Payout.Status.PENDING, "100.00", "EUR"),
            (Payout.Status.PROCESSING, "12.5", "EUR"),
            (Payout.Status.PAID, "5000", "JPY"),
            (Payout.Status.FAILED, "1.234", "KWD"),
            (Payout.Status.CANCELED, "10.12345678", "USDT_TRC20"),
        ]
    ]
    made.append(PayoutFactory(service=service, idempotency_key="key-1"))
    Payout.objects.filter(pk=made[3].pk).update(failure_reason="The bank refused: IBAN closed")
    return [Payout.objects.select_related("service").get(pk=p.pk) for p in made]


def test_a_payout_with_its_timeline_is_written_as_the_generic_path_writes_it(
    payouts_in_every_state,
):
    for payout in payouts_in_every_state:
        payout.timeline = queries.payout_with_events(payout)
        fast = s.PayoutDetailOut(payout).data
        generic = GenericPayoutDetailOut(payout).data

        assert list(fast) == list(generic)
        assert [list(e) for e in fast["events"]] == [list(e) for e in generic["events"]]
        assert rendered(fast) == rendered(generic)


def test_the_list_shape_is_written_as_the_generic_path_writes_it(payouts_in_every_state):
    fast = s.PayoutOut(payouts_in_every_state, many=True).data
    generic = GenericPayoutOut(payouts_in_every_state, many=True).data

    assert [list(p) for p in fast] == [list(p) for p in generic]
    assert rendered(fast) == rendered(generic)


def test_the_states_that_give_null_fields_are_covered(payouts_in_every_state):
    """The cases above include the nulls and the optional values (so that the comparison
    means something): ended and open payouts, with and without a failure reason and key."""
    shapes = [s.PayoutOut(p).data for p in payouts_in_every_state]
    assert {p["endedAt"] is None for p in shapes} == {True, False}
    assert {p["failureReason"] is None for p in shapes} == {True, False}
    assert {p["idempotencyKey"] is None for p in shapes} == {True, False}
    assert {tuple(p["allowedActions"]) == () for p in shapes} == {True, False}


class GenericCreateIn(s.PayoutCreateIn):
    to_internal_value = serializers.Serializer.to_internal_value
    run_validators = serializers.Serializer.run_validators


GOOD = {"currency": "EUR", "amount": "100.00", "destination": "IBAN DE89 3704 0044 0532 0130 00"}
BODIES = [
    GOOD,
    {**GOOD, "amount": 100},
    {**GOOD, "amount": Decimal("100.00")},
    {**GOOD, "extra": "ignored"},
    {**GOOD, "destination": "  padded\t"},
    {**GOOD, "destination": "\u00a0non-breaking\u2003"},
    {**GOOD, "destination": "   "},
    {**GOOD, "destination": ""},
    {**GOOD, "destination": "x" * 255},
    {**GOOD, "destination": "x" * 256},
    {**GOOD, "destination": " " + "x" * 255 + " "},
    {**GOOD, "destination": "nul\x00inside"},
    {**GOOD, "destination": "half \ud800 pair"},
    {**GOOD, "destination": 12345},
    {**GOOD, "destination": 1.5},
    {**GOOD, "destination": True},
    {**GOOD, "destination": None},
    {**GOOD, "destination": ["a"]},
    {**GOOD, "currency": " EUR"},
    {**GOOD, "currency": ""},
    {**GOOD, "currency": " "},
    {**GOOD, "currency": "X" * 16},
    {**GOOD, "currency": "X" * 17},
    {**GOOD, "currency": "EU\x00"},
    {**GOOD, "currency": 978},
    {**GOOD, "amount": "9" * 64},
    {**GOOD, "amount": "9" * 65},
    {**GOOD, "amount": 10**70},
    {**GOOD, "amount": True},
    {**GOOD, "amount": None},
    {**GOOD, "amount": 1.5},
    {**GOOD, "amount": ["1"]},
    {**GOOD, "amount": "not a number"},
    {"currency": "EUR", "amount": "1.00"},
    {},
    [],
    "EUR 100",
    None,
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_a_creation_body_is_read_as_the_generic_path_reads_it(body):
    fast, generic = s.PayoutCreateIn(data=body), GenericCreateIn(data=body)

    assert fast.is_valid() == generic.is_valid()
    if generic.errors:
        assert fast.errors == generic.errors
    else:
        assert dict(fast.validated_data) == dict(generic.validated_data)
        assert list(fast.validated_data) == list(generic.validated_data)
        assert {k: type(v) for k, v in fast.validated_data.items()} == {
            k: type(v) for k, v in generic.validated_data.items()
        }
