"""What each webhook event type carries in ``data``: built from the domain events of
core.events (and the alerts app's), nothing read from the database.

Amounts are exact decimal strings with the currency's digits, always next to their
``currency`` ("10.50" EUR, "5000" JPY, "12.00000000" USDT_TRC20): a JSON number would be read
as a float by most clients.  Keys are camelCase, ids the public ones.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from alerts.events import AlertOpened, AlertResolved
from core.events import BalanceChanged, Figures, PayoutStatusChanged, SyncFinished
from core.money.currencies import plain_amount

ALERT_OPENED = "alert.opened"
ALERT_RESOLVED = "alert.resolved"
BALANCE_CHANGED = "balance.changed"
SYNC_FAILED = "sync.failed"
PAYOUT_STATUS_CHANGED = "payout.status_changed"

EVENT_TYPES: dict[str, str] = {
    ALERT_OPENED: "An alert opened (a rule's condition started to hold for a balance).",
    ALERT_RESOLVED: "An alert resolved (the condition no longer holds).",
    BALANCE_CHANGED: "A balance was created, changed (by hand, a sync or a payout) or deleted.",
    SYNC_FAILED: "A provider sync run failed.",
    PAYOUT_STATUS_CHANGED: "A payout was created or changed status.",
}


def timestamp(at: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the millisecond: ``2024-12-03T14:07:00.123Z``."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def amount(value: Decimal, currency: str) -> str:
    return plain_amount(value, currency)


def _figures(figures: Figures | None, currency: str) -> dict[str, str] | None:
    if figures is None:
        return None
    return {
        "available": amount(figures.available, currency),
        "pending": amount(figures.pending, currency),
        "reserved": amount(figures.reserved, currency),
        "held": amount(figures.held, currency),
        "availableForPayout": amount(figures.available_for_payout, currency),
    }


def balance_changed(event: BalanceChanged) -> dict[str, Any]:
    return {
        "serviceId": event.service_public_id,
        "currency": event.currency,
        "kind": event.kind,
        "before": _figures(event.before, event.currency),
        "after": _figures(event.after, event.currency),
        "actor": event.actor_label,
    }


def sync_failed(event: SyncFinished) -> dict[str, Any]:
    return {
        "serviceId": event.service_public_id,
        "syncRunId": event.run_public_id,
        "provider": event.provider_kind,
        "errorCategory": event.error_category,
        "errorMessage": event.error_message,
    }


def payout_status_changed(event: PayoutStatusChanged) -> dict[str, Any]:
    return {
        "serviceId": event.service_public_id,
        "payoutId": event.payout_public_id,
        "currency": event.currency,
        "amount": amount(event.amount, event.currency),
        "fee": amount(event.fee, event.currency),
        "total": amount(event.amount + event.fee, event.currency),
        "fromStatus": event.from_status,
        "toStatus": event.to_status,
    }


def alert_opened(event: AlertOpened) -> dict[str, Any]:
    """``threshold`` and ``value`` are exact strings: an amount with the currency's digits
    for the amount kinds, minutes (stale) or failures (sync_failing) otherwise."""
    return {
        "alertId": event.alert_public_id,
        "ruleId": event.rule_public_id,
        "serviceId": event.service_public_id,
        "currency": event.currency,
        "kind": event.kind,
        "threshold": event.threshold or None,
        "value": event.value,
    }


def alert_resolved(event: AlertResolved) -> dict[str, Any]:
    return {
        "alertId": event.alert_public_id,
        "ruleId": event.rule_public_id or None,
        "serviceId": event.service_public_id,
        "currency": event.currency,
        "kind": event.kind,
        "value": event.value or None,
        "reason": event.reason,
    }


def envelope(*, event_id: str, event_type: str, at: datetime, data: dict[str, Any]) -> bytes:
    """The exact bytes every delivery of the event sends (and signs)."""
    document = {"id": event_id, "type": event_type, "createdAt": timestamp(at), "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
