"""Waiting and checking helpers for test_worker.py: the workers run elsewhere, so a test
polls the database and, when it gives up, says what the broker and the workers were doing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from balances.actions import balance_create
from balances.models import BalanceChange, SyncRun
from core.actors import Actor
from tests.balances.sync.worker_harness import CeleryWorker, broker_state
from tests.factories import ServiceFactory

ENDED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED)
PAYOP_PATH = "/v1/wallets/get-balances"


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    workers: Iterable[CeleryWorker] = (),
) -> Any:
    """Poll ``predicate`` until it returns something true; on time-out, fail with the state
    of the broker and the end of the workers' logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    workers = list(workers)
    logs = "\n".join(f"--- {w.hostname} ---\n{w.log_tail(30)}" for w in workers)
    state = broker_state(workers[0].redis_url) if workers else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{state}\n{logs}")


def run_ended(public_id: str) -> Callable[[], SyncRun | None]:
    def check() -> SyncRun | None:
        run = SyncRun.objects.get(public_id=public_id)
        return run if run.status in ENDED else None

    return check


def syncpay_service(
    operator: Any, connect: Callable[..., Any], base_url: str, name: str, **balances: str
) -> Any:
    """A service with the given balances (set by ``operator``), connected to SyncPay at
    ``base_url``."""
    service = ServiceFactory(name=name)
    for currency, amount in balances.items():
        balance_create(
            service=service,
            currency=currency,
            amount=Decimal(amount),
            actor=Actor.for_user(operator),
        )
    connect(service, base_url)
    return service


def history_per_balance(run: SyncRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for currency in BalanceChange.objects.filter(sync_run=run).values_list("currency", flat=True):
        counts[currency] = counts.get(currency, 0) + 1
    return counts


def payop_body(*codes: str) -> dict[str, Any]:
    """A success body of Payop's ``GET /v1/wallets/get-balances?includeTotal=1``."""
    return {
        "snapshotAt": "2025-09-15T12:34:56Z",
        "currencies": [
            {
                "code": code,
                "balance": {
                    "available": "10.00",
                    "referral": "0.00",
                    "pending": "1.00",
                    "reserve": "0.00",
                    "total": "11.00",
                },
            }
            for code in codes
        ],
    }


def most_requests_in_a_window(times: Iterable[float], window: float) -> int:
    """The largest number of ``times`` inside any half-open interval of length ``window``."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
