"""What the domain events of the apps below become: a webhook event for the webhooks that
want its type (the payload is built only when one does).  Registered in
WebhooksConfig.ready() to run after the publisher's commit, so that nothing is announced that
did not happen."""

from __future__ import annotations

from alerts.events import AlertOpened, AlertResolved
from core import events
from webhooks import payloads
from webhooks.actions import webhook_event_publish


def balance_changed(event: events.BalanceChanged) -> None:
    webhook_event_publish(
        event_type=payloads.BALANCE_CHANGED,
        data=lambda: payloads.balance_changed(event),
        at=event.at,
    )


def sync_finished(event: events.SyncFinished) -> None:
    if event.status != "failed":
        return
    webhook_event_publish(
        event_type=payloads.SYNC_FAILED, data=lambda: payloads.sync_failed(event), at=event.at
    )


def payout_status_changed(event: events.PayoutStatusChanged) -> None:
    webhook_event_publish(
        event_type=payloads.PAYOUT_STATUS_CHANGED,
        data=lambda: payloads.payout_status_changed(event),
        at=event.at,
    )


def alert_opened(event: AlertOpened) -> None:
    webhook_event_publish(
        event_type=payloads.ALERT_OPENED, data=lambda: payloads.alert_opened(event), at=event.at
    )


def alert_resolved(event: AlertResolved) -> None:
    webhook_event_publish(
        event_type=payloads.ALERT_RESOLVED, data=lambda: payloads.alert_resolved(event), at=event.at
    )


def register() -> None:
    events.subscribe(AlertOpened, alert_opened, on_commit=True)
    events.subscribe(AlertResolved, alert_resolved, on_commit=True)
    events.subscribe(events.BalanceChanged, balance_changed, on_commit=True)
    events.subscribe(events.SyncFinished, sync_finished, on_commit=True)
    events.subscribe(events.PayoutStatusChanged, payout_status_changed, on_commit=True)
