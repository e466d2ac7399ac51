"""A history built through the real actions over 45 days, for the chart tests: two services,
creations, manual edits, a sync, a payout paid, deletions and re-creations, each at a moment
set by a clock the actions read.  After each step every balance is recorded as the Balance
rows hold it, so that the series can be compared with what really was."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from balances.actions import balance_create, balance_delete, balance_update
from balances.history.series import Figures
from balances.models import Balance, SyncRun
from balances.providers.base import CurrencyFigures, Snapshot
from balances.sync.apply import snapshot_apply
from core.actors import Actor
from payouts import actions as payout_actions
from services.models import ProviderConnection, Service
from tests.factories import ServiceFactory, UserFactory

D = Decimal
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(name="chart_clock")
def chart_clock_fixture(monkeypatch):
    clock = Clock(NOW - timedelta(days=60))
    monkeypatch.setattr(timezone, "now", clock)
    return clock


def all_balances() -> dict[tuple[int, str], Figures]:
    """Every balance as the Balance rows hold it now (independent of the history)."""
    return {
        (b.service_id, b.currency): Figures(b.available, b.pending, b.reserved)
        for b in Balance.objects.all()
    }


@dataclass
class Timeline:
    acme: Service
    beta: Service
    moments: dict[str, datetime] = field(default_factory=dict)
    states: list[tuple[datetime, dict[tuple[int, str], Figures]]] = field(default_factory=list)

    def state_before(self, instant: datetime) -> dict[tuple[int, str], Figures]:
        """The balances just before ``instant`` (after every step strictly earlier)."""
        state: dict[tuple[int, str], Figures] = {}
        for at, balances in self.states:
            if at < instant:
                state = balances
        return state

    def after(self, name: str) -> dict[tuple[int, str], Figures]:
        return dict(self.states)[self.moments[name]]


def sync_snapshot(*figures: tuple[str, str, str, str]) -> Snapshot:
    return Snapshot(
        kind="syncpay",
        taken_at=NOW,
        figures=tuple(CurrencyFigures(c, D(a), D(p), D(r), {}) for c, a, p, r in figures),
        omitted_means_zero=False,
        extras={},
    )


@pytest.fixture(name="timeline")
def timeline_fixture(db, chart_clock, settings) -> Timeline:
    """Two services, changes spread over 45 days before NOW, each through its action."""
    settings.SYNC_PROTECTION_HOURS = 0  # the sync applies, never held for review
    person = Actor.for_user(UserFactory(username="otto-charts", role="operator"))
    acme = ServiceFactory(name="Acme Payments")
    beta = ServiceFactory(name="Beta Ltd")
    t = Timeline(acme=acme, beta=beta)
    connection = ProviderConnection.objects.create(service=acme, kind="syncpay")

    def sync() -> None:
        run = SyncRun.objects.create(
            service=acme, provider_kind="syncpay", trigger="command", status="running"
        )
        snapshot = sync_snapshot(("EUR", "1300.00", "25.00", "3.00"), ("KWD", "5.125", "0", "0"))
        snapshot_apply(run=run, connection=connection, snapshot=snapshot)

    def payout() -> None:
        paid, _ = payout_actions.payout_create(
            service=acme,
            currency="EUR",
            amount="100.00",
            destination="IBAN DE89 3704 0044 0532 0130 00",
            actor=person,
        )
        paid = payout_actions.payout_transition(payout=paid, to_status="processing", actor=person)
        payout_actions.payout_transition(payout=paid, to_status="paid", actor=person)

    def edit(service: Service, currency: str, amount: str):
        return lambda: balance_update(
            service=service,
            currency=currency,
            amount=amount,
            expected_version=None,
            actor=person,
            reason="Correction",
        )

    steps = [
        (
            "acme_eur",
            45,
            lambda: balance_create(service=acme, currency="EUR", amount="1000.00", actor=person),
        ),
        (
            "acme_kwd",
            40,
            lambda: balance_create(service=acme, currency="KWD", amount="5.125", actor=person),
        ),
        (
            "beta_eur",
            38,
            lambda: balance_create(service=beta, currency="EUR", amount="7.00", actor=person),
        ),
        ("acme_edit", 20, edit(acme, "EUR", "1250.50")),
        ("sync", 15, sync),
        ("payout", 10, payout),
        ("kwd_deleted", 6, lambda: balance_delete(service=acme, currency="KWD", actor=person)),
        (
            "kwd_again",
            4,
            lambda: balance_create(service=acme, currency="KWD", amount="0.001", actor=person),
        ),
        (
            "usdt",
            3,
            lambda: balance_create(
                service=beta, currency="USDT_TRC20", amount="0.12345678", actor=person
            ),
        ),
        (
            "usdt_deleted",
            2,
            lambda: balance_delete(service=beta, currency="USDT_TRC20", actor=person),
        ),
        ("beta_edit", 1, edit(beta, "EUR", "8.50")),
    ]
    for name, days_ago, action in steps:
        chart_clock.now = NOW - timedelta(days=days_ago, hours=3)
        action()
        t.moments[name] = chart_clock.now
        t.states.append((chart_clock.now, all_balances()))
    chart_clock.now = NOW
    return t
