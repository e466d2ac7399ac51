"""The factories make rows the way the actions do: audit entries, versions, encrypted
credentials, holds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances.models import Balance
from core.actors import Actor
from services.models import AuditEntry
from tests.factories import (
    FeeProfileFactory,
    FeeRuleFactory,
    PayoutFactory,
    ProviderConnectionFactory,
    ServiceFactory,
)

pytestmark = pytest.mark.django_db


def test_a_fee_profile_is_created_with_its_rules_and_audit_entry():
    profile = FeeProfileFactory(
        name="Standard", rules=[{"operation": "payout", "currency": "EUR", "percentage": "1.5"}]
    )
    assert (profile.version, profile.rules.get().percentage) == (1, Decimal("1.5"))
    assert AuditEntry.objects.get(fee_profile=profile).action == "fee_profile_created"


def test_a_fee_rule_bumps_its_profiles_version():
    rule = FeeRuleFactory(currency="", fixed_amount="0.10")
    rule.profile.refresh_from_db()
    assert (rule.profile.version, rule.currency, rule.maximum_fee) == (2, "", None)


def test_a_fee_rule_the_action_refuses_is_not_made():
    with pytest.raises(Exception, match="not a known currency"):
        FeeRuleFactory(currency="XYZ")


def test_a_connection_stores_encrypted_credentials_through_the_action():
    connection = ProviderConnectionFactory(
        kind="finix", actor=Actor.system("seed"), consecutive_failures=3
    )
    assert connection.credentials_encrypted
    assert "factory password" not in connection.credentials_encrypted
    assert connection.options["balanceIds"] == ["BLfactory"]
    assert connection.consecutive_failures == 3
    entry = AuditEntry.objects.get(service=connection.service)
    assert (entry.action, entry.actor_label) == ("provider_connected", "seed")


def test_a_payout_is_priced_and_holds_on_a_funded_balance():
    profile = FeeProfileFactory(
        rules=[{"operation": "payout", "currency": "EUR", "fixed_amount": "0.25"}]
    )
    payout = PayoutFactory(service=ServiceFactory(fee_profile=profile), amount=Decimal("10.00"))
    assert (payout.status, payout.fee) == ("pending", Decimal("0.25"))
    balance = Balance.objects.get(service=payout.service, currency="EUR")
    assert balance.available == Decimal("10000.00")


@pytest.mark.parametrize("status", ["processing", "paid", "failed", "canceled"])
def test_a_payout_reaches_its_status_through_the_state_machine(status):
    payout = PayoutFactory(status=status)
    assert payout.status == status
    assert [e.to_status for e in payout.events.all()][-1] == status
    available = Balance.objects.get(service=payout.service, currency="EUR").available
    assert available == (Decimal("9900.00") if status == "paid" else Decimal("10000.00"))
