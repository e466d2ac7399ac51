"""What alerts tell the apps above it (webhooks) through core.events: published inside the
transaction that opens, acknowledges or resolves an alert, so on-commit subscribers hear only
of what was committed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AlertOpened:
    alert_public_id: str
    rule_public_id: str
    service_id: int
    service_public_id: str
    currency: str
    kind: str
    threshold: str  # "" for kinds without one; else the rule's amount, minutes or failures
    value: str  # exact: an amount with the currency's digits, or a number of minutes/failures
    emails: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class AlertResolved:
    alert_public_id: str
    rule_public_id: str  # "" when the rule was deleted
    service_id: int
    service_public_id: str
    currency: str
    kind: str
    value: str  # "" when there is none any more (the balance or the rule went away)
    reason: str
    at: datetime


@dataclass(frozen=True)
class AlertAcknowledged:
    alert_public_id: str
    service_id: int
    service_public_id: str
    currency: str
    kind: str
    by: str
    note: str
    at: datetime
