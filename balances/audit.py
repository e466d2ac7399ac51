"""Manual balance writes in the system-wide audit log (services.AuditEntry), next to their
history entry.  Only writes by a person (a page or an API key) are audited here: a sync's
changes are recorded by its sync run and a payout's by the payout, so neither is repeated
per balance."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from balances.models import BalanceChange
from core.actors import Actor, ActorType
from core.money import currencies
from services.actions import audit
from services.models import Service


def balance_object_id(service: Service, currency: str) -> str:
    """A balance has no id of its own: ``srv_…:EUR`` names it (and its history)."""
    return f"{service.public_id}:{currency}"


def _plain(value: Decimal | None, currency: str) -> str | None:
    return None if value is None else currencies.plain_amount(value, currency)


def _changes(change: BalanceChange) -> dict[str, Any]:
    code = change.currency
    changes: dict[str, Any] = {"currency": code}
    for figure in ("available", "pending", "reserved"):
        old = _plain(getattr(change, f"old_{figure}"), code)
        new = _plain(getattr(change, f"new_{figure}"), code)
        if change.kind == BalanceChange.Kind.CREATED and (figure == "available" or new != "0"):
            changes[figure] = [None, new]
        elif change.kind == BalanceChange.Kind.DELETED and (figure == "available" or old):
            changes[figure] = [old, None]
        elif old != new:
            changes[figure] = [old, new]
    if change.approved_by_label:
        changes["approved_by"] = change.approved_by_label
        changes["approval"] = change.approval_public_id
    return changes


def audit_balance_change(change: BalanceChange, *, actor: Actor, service: Service) -> None:
    """Write the audit entry of ``change`` when a person made it."""
    if actor.type != ActorType.USER:
        return
    audit(
        actor=actor,
        action=f"balance_{change.kind}",
        subject=f"{change.currency} balance of {service.public_id}",
        service=service,
        changes=_changes(change),
        object_type="balance",
        object_id=balance_object_id(service, change.currency),
        reason=change.reason,
    )
