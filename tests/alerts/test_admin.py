"""Alerts in the Django admin: readable, never written there."""

from __future__ import annotations

import pytest

from alerts.models import Alert, AlertRule
from balances import actions as balance_actions
from tests.admin_helpers import assert_read_only_in_admin

pytestmark = pytest.mark.django_db


def test_rules_and_alerts_are_read_only_in_the_admin(root, watched, make_rule, operator_actor):
    rule = make_rule(service=watched)
    balance_actions.balance_update(
        service=watched,
        currency="USD",
        amount="1.00",
        expected_version=None,
        actor=operator_actor,
        reason="t",
    )
    assert_read_only_in_admin(root, rule, {"currency": "EUR", "kind": "stale"})
    assert_read_only_in_admin(root, Alert.objects.get(), {"status": "resolved"})
    assert AlertRule.objects.get().currency == "USD"
