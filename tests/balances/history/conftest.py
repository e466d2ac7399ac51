"""A clock the actions read (``timezone.now``), and a history built through the real
actions: create, manual edits, a sync through the apply path, a payout paid, a deletion, a
re-creation.  After each step the balances as they are (the Balance rows) are recorded with
the moment of the step, so that "as of" can be compared with what really was."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from balances.actions import balance_create, balance_delete, balance_update
from balances.models import Balance, SyncRun
from balances.providers.base import CurrencyFigures, Snapshot
from balances.sync.apply import snapshot_apply
from core.actors import Actor
from payouts import actions as payout_actions
from services.models import ProviderConnection, Service
from tests.factories import ServiceFactory, UserFactory

D = Decimal
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Clock:
    """``timezone.now`` for the actions: moves only when told."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(START)
    monkeypatch.setattr(timezone, "now", clock)
    return clock


def figures_now(service: Service) -> dict[str, tuple]:
    """The service's balances as the Balance rows hold them now."""
    return {
        b.currency: (
            b.available,
            b.pending,
            b.reserved,
            b.version,
            b.updated_at,
            b.updated_by_label,
        )
        for b in Balance.objects.filter(service=service)
    }


@dataclass
class World:
    service: Service
    other: Service
    # (moment of a step, the balances right after it), in order.
    states: list[tuple[datetime, dict[str, tuple]]] = field(default_factory=list)

    def record(self, moment: datetime) -> None:
        self.states.append((moment, figures_now(self.service)))

    def expected_at(self, moment: datetime) -> dict[str, tuple]:
        """What the balances were at ``moment``: the state after the last step at or
        before it."""
        state: dict[str, tuple] = {}
        for at, figures in self.states:
            if at <= moment:
                state = figures
        return state


def snap(*figures: tuple[str, str, str, str]) -> Snapshot:
    return Snapshot(
        kind="syncpay",
        taken_at=START,
        figures=tuple(CurrencyFigures(c, D(a), D(p), D(r), {}) for c, a, p, r in figures),
        omitted_means_zero=False,
        extras={},
    )


@pytest.fixture
def world(db, clock, settings) -> World:
    """Ten steps a minute apart, through the actions, on one service (and a noisy other)."""
    settings.SYNC_PROTECTION_HOURS = 0  # the sync below applies, never held for review
    operator = UserFactory(username="otto-history", role="operator")
    person = Actor.for_user(operator)
    service = ServiceFactory(name="Acme Payments", country="NG")
    other = ServiceFactory(name="Other Ltd", country="DE")
    w = World(service=service, other=other)
    w.record(clock.now)  # nothing yet

    def step(action) -> None:
        moment = clock.advance(minutes=1)
        action()
        w.record(moment)

    step(lambda: balance_create(service=service, currency="EUR", amount="1000.00", actor=person))
    step(lambda: balance_create(service=service, currency="KWD", amount="5.125", actor=person))
    step(lambda: balance_create(service=other, currency="EUR", amount="7.00", actor=person))
    step(
        lambda: balance_update(
            service=service,
            currency="EUR",
            amount="1250.50",
            expected_version=None,
            actor=person,
            reason="Correction",
        )
    )
    connection = ProviderConnection.objects.create(service=service, kind="syncpay")

    def sync() -> None:
        run = SyncRun.objects.create(
            service=service, provider_kind="syncpay", trigger="command", status="running"
        )
        snapshot_apply(
            run=run,
            connection=connection,
            snapshot=snap(("EUR", "1300.00", "25.00", "3.00"), ("KWD", "5.125", "0", "0")),
        )

    step(sync)

    def payout_paid() -> None:
        payout, _ = payout_actions.payout_create(
            service=service,
            currency="EUR",
            amount="100.00",
            destination="IBAN DE89 3704 0044 0532 0130 00",
            actor=person,
        )
        payout = payout_actions.payout_transition(
            payout=payout, to_status="processing", actor=person
        )
        payout_actions.payout_transition(payout=payout, to_status="paid", actor=person)

    step(payout_paid)
    step(lambda: balance_delete(service=service, currency="KWD", actor=person, reason="Closed"))
    step(lambda: balance_create(service=service, currency="KWD", amount="0.001", actor=person))
    step(
        lambda: balance_create(
            service=service, currency="USDT_TRC20", amount="0.12345678", actor=person
        )
    )
    step(lambda: balance_delete(service=service, currency="USDT_TRC20", actor=person))
    clock.advance(hours=1)  # "now" is an hour after the last change
    return w
