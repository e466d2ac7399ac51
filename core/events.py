"""Domain events: how a lower app tells the apps above it what happened, without importing
them (imports flow core <- services <- balances <- payouts <- alerts).

Actions publish plain frozen dataclasses; apps above subscribe in their ``AppConfig.ready``.
A subscriber says when it wants to hear:

* ``on_commit=False``: at once, inside the publisher's transaction (alerts are evaluated in the
  same transaction as the write that causes them, so a rolled-back write opens no alert, and
  row locks taken by the action keep concurrent writes apart);
* ``on_commit=True``: after the publisher's transaction commits (notifications, webhooks:
  nothing is announced that did not happen).

An in-transaction subscriber that raises makes the publishing action fail (and roll back): it is
part of the write.  An on-commit subscriber that raises is logged and does not affect the
others.

One write often publishes several events (a payout: its hold and its status; a sync: every
balance it changed).  Inside ``shared_reads()`` the after-commit subscribers of those events
share what they read through ``shared()`` (the webhooks read the active webhooks once, not
once per event).  The block must include the commit, which runs them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.db import transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")
_shared: ContextVar[dict[str, Any] | None] = ContextVar("events_shared_reads", default=None)

Handler = Callable[[Any], None]

_now: dict[type, list[Handler]] = defaultdict(list)
_after_commit: dict[type, list[Handler]] = defaultdict(list)


@dataclass(frozen=True)
class Figures:
    available: Decimal
    pending: Decimal
    reserved: Decimal
    held: Decimal

    @property
    def available_for_payout(self) -> Decimal:
        return self.available - self.held


@dataclass(frozen=True)
class BalanceChanged:
    """A balance was created, changed (by hand, a sync or a payout) or deleted.

    ``before`` is None for a creation, ``after`` None for a deletion.  ``kind`` is the
    history kind: created, updated, deleted, synced, payout, hold (a payout's hold moved).
    A sync announces every balance it changed or created as ``synced`` (``before`` None for a
    created one), then ``SyncFinished`` in the same transaction.
    """

    service_id: int
    service_public_id: str
    currency: str
    kind: str
    before: Figures | None
    after: Figures | None
    actor_label: str
    at: datetime
    # The balance row's ``watched`` as the writer read it under the row lock: False when
    # nothing above watches its amounts (listeners may skip it); True when unknown.
    watched: bool = True


@dataclass(frozen=True)
class SyncFinished:
    service_id: int
    service_public_id: str
    run_public_id: str
    provider_kind: str
    status: str  # succeeded | failed
    error_category: str
    error_message: str
    at: datetime
    # How the run was asked for (button, schedule, api, command) and how long it ran, from
    # its start to its end (None when it never started): for the metrics.
    trigger: str = ""
    duration_seconds: float | None = None
    # False when a successful run changed no balance's figures (it only confirmed them), so
    # that listeners can skip work that depends on figures; None when not known.
    figures_changed: bool | None = None


@dataclass(frozen=True)
class PayoutStatusChanged:
    service_id: int
    service_public_id: str
    payout_public_id: str
    currency: str
    amount: Decimal
    fee: Decimal
    from_status: str | None  # None when created
    to_status: str
    at: datetime


def subscribe(event_type: type, handler: Handler, *, on_commit: bool = False) -> None:
    """Register ``handler`` once (registering the same handler again is harmless)."""
    handlers = (_after_commit if on_commit else _now)[event_type]
    if handler not in handlers:
        handlers.append(handler)


def unsubscribe(event_type: type, handler: Handler) -> None:
    for table in (_now, _after_commit):
        if handler in table[event_type]:
            table[event_type].remove(handler)


def publish(event: Any, *, using: str | None = None) -> None:
    """Tell the subscribers: in-transaction ones now, the others after commit."""
    for handler in list(_now[type(event)]):
        handler(event)
    for handler in list(_after_commit[type(event)]):
        transaction.on_commit(_guarded(handler, event), using=using)


def _guarded(handler: Handler, event: Any) -> Callable[[], None]:
    def run() -> None:
        try:
            handler(event)
        except Exception:  # one failing listener must not silence the others
            logger.exception("event handler %s failed for %s", handler, type(event).__name__)

    return run


@contextmanager
def shared_reads() -> Iterator[None]:
    """Within the block, what the after-commit subscribers read through ``shared()`` is read
    once: wrap one write together with its commit.  A block inside another shares the outer
    one's reads."""
    if _shared.get() is not None:
        yield
        return
    token = _shared.set({})
    try:
        yield
    finally:
        _shared.reset(token)


def shared(key: str, load: Callable[[], T]) -> T:
    """``load()``, or inside ``shared_reads()`` what it returned the first time for ``key``."""
    memo = _shared.get()
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]
