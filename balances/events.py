"""What balances tell the apps above it (core.events), built in one place so that each action
announces a write with one line.  Called inside the action's transaction: in-transaction
subscribers (alert evaluation) run at once, the others after commit."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from balances.models import Balance, SyncRun
from core import events
from core.events import Figures


def figures_of(balance: Balance) -> Figures:
    return Figures(
        available=balance.available,
        pending=balance.pending,
        reserved=balance.reserved,
        held=balance.held,
    )


def figures(
    *, available: Decimal, pending: Decimal, reserved: Decimal, held: Decimal = Decimal(0)
) -> Figures:
    return Figures(available=available, pending=pending, reserved=reserved, held=held)


def balance_changed(
    *,
    service_id: int,
    service_public_id: str,
    currency: str,
    kind: str,
    before: Figures | None,
    after: Figures | None,
    actor_label: str,
    at: datetime,
    watched: bool = True,
) -> None:
    events.publish(
        events.BalanceChanged(
            service_id=service_id,
            service_public_id=service_public_id,
            currency=currency,
            kind=kind,
            before=before,
            after=after,
            actor_label=actor_label,
            at=at,
            watched=watched,
        )
    )


def sync_finished(
    *, run: SyncRun, service_public_id: str | None = None, figures_changed: bool | None = None
) -> None:
    """``run`` has just been written with its final status (succeeded or failed);
    ``figures_changed`` says whether it changed or created a balance, when known."""
    events.publish(
        events.SyncFinished(
            service_id=run.service_id,
            service_public_id=service_public_id or run.service.public_id,
            run_public_id=run.public_id,
            provider_kind=run.provider_kind,
            status=run.status,
            error_category=run.error_category,
            error_message=run.error_message,
            at=run.finished_at or run.created_at,
            trigger=run.trigger,
            duration_seconds=(
                (run.finished_at - run.started_at).total_seconds()
                if run.finished_at and run.started_at
                else None
            ),
            figures_changed=figures_changed,
        )
    )
