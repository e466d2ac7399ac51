"""One log line per sync run that ended and per payout status change, with the ids bound
(``sync_run_id``, ``service_id``, ``provider``, ``payout_id``), so that a run or a payout can
be followed through the JSON logs.  After commit: only what happened is logged.  Amounts are
left out (the history pages have them)."""

from __future__ import annotations

import logging

from core import events
from core.observability import context

log = logging.getLogger("backoffice.events")


def on_sync_finished(event: events.SyncFinished) -> None:
    with context.bound(
        sync_run_id=event.run_public_id,
        service_id=event.service_id,
        provider=event.provider_kind,
    ):
        if event.status == "failed":
            log.info("sync run %s failed (%s)", event.run_public_id, event.error_category)
        else:
            log.info("sync run %s %s", event.run_public_id, event.status)


def on_payout_status_changed(event: events.PayoutStatusChanged) -> None:
    with context.bound(payout_id=event.payout_public_id, service_id=event.service_id):
        log.info(
            "payout %s %s -> %s",
            event.payout_public_id,
            event.from_status or "new",
            event.to_status,
        )


def subscribe() -> None:
    events.subscribe(events.SyncFinished, on_sync_finished, on_commit=True)
    events.subscribe(events.PayoutStatusChanged, on_payout_status_changed, on_commit=True)
