"""Writes to fee profiles and rules (services/fee_actions.py): validation, versions, audit
trail, deletion refused while in use, assignment to services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.actors import Actor
from core.errors import AlreadyExists, NotAllowed, StaleVersion, ValidationFailed
from services.fees import actions as fee_actions
from services.fees import formula as fees
from services.models import AuditEntry, FeeProfile, FeeRule
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db
D = Decimal
ACTOR = Actor.system("tests")
EUR_RULE = {
    "operation": "payout",
    "currency": "EUR",
    "percentage": "1.5",
    "fixed_amount": "0.25",
    "minimum_fee": "0.50",
    "maximum_fee": "10.00",
    "minimum_payout_amount": "5.00",
}


def _profile(name: str = "Standard", rules=(EUR_RULE,)) -> FeeProfile:
    return fee_actions.fee_profile_create(name=name, actor=ACTOR, rules=list(rules))


def _actions(profile: FeeProfile) -> list[str]:
    return list(
        AuditEntry.objects.filter(fee_profile=profile)
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_create_stores_the_rules_exactly_and_audits():
    profile = _profile()
    rule = profile.rules.get()
    assert (rule.percentage, rule.fixed_amount, rule.minimum_fee) == (D("1.5"), D("0.25"), D("0.5"))
    assert (rule.maximum_fee, rule.minimum_payout_amount) == (D(10), D(5))
    entry = AuditEntry.objects.get(fee_profile=profile)
    assert entry.action == "fee_profile_created"
    assert entry.changes["rules"][0]["percentage"] == "1.5"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"operation": "wire"}, "operation"),
        ({"currency": "XXQ"}, "currency"),
        ({"percentage": "100.5"}, "percentage"),
        ({"percentage": "1.23456"}, "percentage"),
        ({"percentage": "-1"}, "percentage"),
        ({"fixed_amount": "0.001"}, "fixed_amount"),  # EUR has 2 decimal places
        ({"minimum_fee": "abc"}, "minimum_fee"),
        ({"minimum_fee": "5", "maximum_fee": "4"}, "maximum_fee"),
        ({"fixed_amount": 0.25}, "fixed_amount"),  # a float has lost its exact value
        ({"operation": "payin", "minimum_payout_amount": "5"}, "minimum_payout_amount"),
    ],
)
def test_invalid_rules_are_refused_and_name_the_field(override, field):
    with pytest.raises(ValidationFailed) as exc:
        fees.clean_rule(**{**EUR_RULE, **override})
    assert exc.value.field == field


def test_any_currency_rules_accept_up_to_8_places():
    rule = fees.clean_rule(operation="payout", currency="any", fixed_amount="0.12345678")
    assert (rule.currency, rule.fixed_amount) == ("", D("0.12345678"))
    with pytest.raises(ValidationFailed):
        fees.clean_rule(operation="payout", currency=None, fixed_amount="0.123456789")


def test_names_are_unique_whatever_the_case():
    _profile("Standard")
    with pytest.raises(AlreadyExists):
        fee_actions.fee_profile_create(name="standard", actor=ACTOR)


def test_one_rule_per_operation_and_currency():
    profile = _profile()
    with pytest.raises(AlreadyExists):
        fee_actions.fee_rule_create(profile=profile, actor=ACTOR, **EUR_RULE)
    with pytest.raises(ValidationFailed):
        fee_actions.fee_profile_update(profile=profile, actor=ACTOR, rules=[EUR_RULE, EUR_RULE])


def test_every_write_bumps_the_version_and_is_audited():
    profile = _profile()
    assert profile.version == 1
    rule = fee_actions.fee_rule_create(
        profile=profile, actor=ACTOR, operation="payout", currency="", percentage="2"
    )
    fee_actions.fee_rule_update(
        rule=rule, actor=ACTOR, operation="payout", currency="", percentage="2.5"
    )
    fee_actions.fee_rule_delete(rule=rule, actor=ACTOR)
    fee_actions.fee_profile_update(profile=profile, actor=ACTOR, name="Premium", description="x")
    profile.refresh_from_db()
    assert profile.version == 5
    assert profile.name == "Premium"
    assert _actions(profile) == [
        "fee_profile_created",
        "fee_rule_added",
        "fee_rule_changed",
        "fee_rule_deleted",
        "fee_profile_updated",
    ]
    changed = AuditEntry.objects.get(fee_profile=profile, action="fee_rule_changed")
    assert changed.changes == {"percentage": ["2", "2.5"]}


def test_an_edit_based_on_an_old_version_is_refused():
    profile = _profile()
    fee_actions.fee_profile_update(profile=profile, actor=ACTOR, description="new")
    with pytest.raises(StaleVersion):
        fee_actions.fee_profile_update(
            profile=profile, actor=ACTOR, name="Other", expected_version=1
        )
    with pytest.raises(StaleVersion):
        fee_actions.fee_rule_create(
            profile=profile, actor=ACTOR, expected_version=1, operation="refund"
        )
    profile.refresh_from_db()
    assert profile.name == "Standard" and profile.rules.count() == 1


def test_an_update_without_changes_writes_nothing():
    profile = _profile()
    fee_actions.fee_profile_update(profile=profile, actor=ACTOR, name="Standard", rules=[EUR_RULE])
    profile.refresh_from_db()
    assert profile.version == 1
    assert _actions(profile) == ["fee_profile_created"]


def test_rules_can_be_replaced_as_a_whole():
    profile = _profile()
    fee_actions.fee_profile_update(
        profile=profile,
        actor=ACTOR,
        rules=[
            {"operation": "payin", "currency": "USD", "percentage": "2.9", "fixed_amount": "0.30"}
        ],
    )
    assert list(profile.rules.values_list("operation", "currency")) == [("payin", "USD")]


def test_a_profile_in_use_cannot_be_deleted_and_the_error_names_the_services():
    profile = _profile()
    a = ServiceFactory(name="Alpha Shop", fee_profile=profile)
    b = ServiceFactory(name="Beta Shop", fee_profile=profile)
    with pytest.raises(NotAllowed) as exc:
        fee_actions.fee_profile_delete(profile=profile, actor=ACTOR)
    assert exc.value.code == "in_use" and exc.value.http_status == 409
    assert "Alpha Shop" in exc.value.message and b.public_id in exc.value.message
    assert exc.value.details["services"] == [a.public_id, b.public_id]
    assert FeeProfile.objects.filter(pk=profile.pk).exists()


def test_an_unused_profile_is_deleted_with_its_rules_and_the_trail_stays():
    profile = _profile()
    pk = profile.pk
    fee_actions.fee_profile_delete(profile=profile, actor=ACTOR)
    assert not FeeProfile.objects.filter(pk=pk).exists()
    assert not FeeRule.objects.filter(profile_id=pk).exists()
    entry = AuditEntry.objects.get(action="fee_profile_deleted")
    assert entry.subject == "fee profile Standard" and entry.changes["rules"]


def test_assigning_a_profile_audits_the_service_and_both_profiles():
    old, new = _profile("Old"), _profile("New")
    service = ServiceFactory(fee_profile=old)
    fee_actions.service_fee_profile_set(service=service, profile=new, actor=ACTOR)
    service.refresh_from_db()
    assert service.fee_profile == new
    assert AuditEntry.objects.filter(service=service, action="service_updated").exists()
    assert "service_unassigned" in _actions(old)
    assert "service_assigned" in _actions(new)
    fee_actions.service_fee_profile_set(service=service, profile=None, actor=ACTOR)
    service.refresh_from_db()
    assert service.fee_profile is None
