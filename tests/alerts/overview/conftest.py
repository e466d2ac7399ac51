"""Builders for the overview's tests: alerts as the alert rules leave them, and a world of
services with something of every kind that needs attention."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertRule
from balances.models import Balance, SyncRun
from services.models import ProviderConnection, Service

LONG_AGO = timedelta(days=3)  # far beyond twice any sync interval the tests use


def make_alert(
    service: Service,
    currency: str,
    kind: str,
    *,
    status: str = Alert.Status.OPEN,
    threshold: str = "100.00",
    opened_value: str = "40.00",
) -> Alert:
    rule_fields: dict = {"currency": currency, "kind": kind, "service": service}
    if kind in (AlertRule.Kind.AVAILABLE_BELOW, AlertRule.Kind.AVAILABLE_FOR_PAYOUT_BELOW):
        rule_fields["threshold"] = Decimal(threshold)
    elif kind == AlertRule.Kind.STALE:
        rule_fields["stale_minutes"] = int(threshold)
    else:
        rule_fields["failures"] = int(threshold)
    rule, _ = AlertRule.objects.get_or_create(
        service=service, currency=currency, kind=kind, defaults=rule_fields
    )
    now = timezone.now()
    return Alert.objects.create(
        rule=rule,
        service=service,
        currency=currency,
        kind=kind,
        status=status,
        threshold=threshold,
        opened_value=opened_value,
        opened_at=now - timedelta(hours=1),
        resolved_at=now if status == Alert.Status.RESOLVED else None,
    )


@pytest.fixture
def alert_of():
    return make_alert


def build_world(count: int) -> list[Service]:
    """``count`` services, each with one of everything the attention list shows: a negative
    EUR balance, a USD balance whose holds exceed it, a stale GBP balance, a paused or a
    failing connection, an open threshold alert and an open stale alert.  Bulk inserts, so
    that 300 services cost a few statements."""
    old = timezone.now() - LONG_AGO
    services = Service.objects.bulk_create(
        Service(name=f"World {i:03d}", country=("NG", "GH", "KE")[i % 3]) for i in range(count)
    )
    Balance.objects.bulk_create(
        balance
        for service in services
        for balance in (
            Balance(service=service, currency="EUR", available=Decimal("-1.50")),
            Balance(
                service=service, currency="USD", available=Decimal("10.00"), held=Decimal("25.00")
            ),
            Balance(service=service, currency="GBP", available=Decimal("7.25"), last_synced_at=old),
        )
    )
    ProviderConnection.objects.bulk_create(
        ProviderConnection(
            service=service,
            kind="syncpay",
            paused_at=old if i % 2 else None,
            paused_reason="Paused after 10 failed runs in a row" if i % 2 else "",
            consecutive_failures=3,
        )
        for i, service in enumerate(services)
    )
    SyncRun.objects.bulk_create(
        SyncRun(
            service=service,
            provider_kind="syncpay",
            trigger=SyncRun.Trigger.SCHEDULE,
            status=SyncRun.Status.FAILED,
            finished_at=old,
            error_category="timeout",
            error_message="The provider did not answer in time.",
        )
        for service in services
    )
    rules = AlertRule.objects.bulk_create(
        rule
        for service in services
        for rule in (
            AlertRule(
                service=service,
                currency="GBP",
                kind=AlertRule.Kind.AVAILABLE_BELOW,
                threshold=Decimal("10.00"),
            ),
            AlertRule(service=service, currency="GBP", kind=AlertRule.Kind.STALE, stale_minutes=60),
        )
    )
    Alert.objects.bulk_create(
        Alert(
            rule=rule,
            service=rule.service,
            currency="GBP",
            kind=rule.kind,
            threshold="10.00" if rule.kind == AlertRule.Kind.AVAILABLE_BELOW else "60",
            opened_value="7.25" if rule.kind == AlertRule.Kind.AVAILABLE_BELOW else "4320",
        )
        for rule in rules
    )
    return services
