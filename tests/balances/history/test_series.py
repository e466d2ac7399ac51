"""Balances over time for the charts: the series of a service's balances and the totals per
currency across services equal the history built through the real actions (creations,
manual edits, a sync, a payout paid, deletions and re-creations), step for step, with the
window's start carried in from before it; and they cost a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from balances.actions import balance_create, balance_delete, balance_update
from balances.history.series import Figures, fleet_series, service_series, window_days
from core.actors import Actor
from tests.balances.history.chart_timeline import (
    NOW,
    all_balances,
    chart_clock_fixture,  # noqa: F401 - the chart_clock fixture
    timeline_fixture,  # noqa: F401 - the timeline fixture
)
from tests.factories import ServiceFactory

D = Decimal


def steps_of(series) -> list[tuple[datetime, str, str, Figures | None]]:
    return [(s.at, s.kind, s.marker, s.figures) for s in series.steps]


# --- one service's series -----------------------------------------------------------------


def test_a_balance_steps_exactly_as_the_history_moved(timeline):
    acme = timeline.acme
    by_code = {s.currency: s for s in service_series(acme, days=30, now=NOW)}
    assert list(by_code) == ["EUR", "KWD"]

    eur = by_code["EUR"]
    assert (eur.start, eur.end) == (NOW - timedelta(days=30), NOW)
    assert eur.carried == Figures(D("1000.00"), D(0), D(0))
    assert eur.carried_since == timeline.moments["acme_eur"]
    m = timeline.moments
    assert steps_of(eur) == [
        (m["acme_edit"], "updated", "manual", timeline.after("acme_edit")[acme.pk, "EUR"]),
        (m["sync"], "synced", "sync", timeline.after("sync")[acme.pk, "EUR"]),
        (m["payout"], "payout", "payout", timeline.after("payout")[acme.pk, "EUR"]),
    ]
    assert [s.figures.available for s in eur.steps] == [D("1250.50"), D("1300.00"), D("1200.00")]
    assert [s.change for s in eur.steps] == [D("250.50"), D("49.50"), D("-100.00")]
    assert eur.shows("pending") and eur.shows("reserved")

    kwd = by_code["KWD"]
    assert kwd.carried == Figures(D("5.125"), D(0), D(0))
    assert steps_of(kwd) == [
        (m["kwd_deleted"], "deleted", "manual", None),
        (m["kwd_again"], "created", "manual", Figures(D("0.001"), D(0), D(0))),
    ]
    assert [s.change for s in kwd.steps] == [D("-5.125"), D("0.001")]
    assert not kwd.shows("pending") and not kwd.shows("reserved")


def test_every_step_equals_the_balance_right_after_it(timeline):
    for service in (timeline.acme, timeline.beta):
        for series in service_series(service, days=90, now=NOW):
            for step in series.steps:
                state = dict(timeline.states)[step.at]
                assert step.figures == state.get((service.pk, series.currency))


def test_the_window_start_carries_the_value_from_before_it(timeline):
    acme, beta, m = timeline.acme, timeline.beta, timeline.moments
    week = {s.currency: s for s in service_series(acme, days=7, now=NOW)}
    assert week["EUR"].carried == timeline.after("payout")[acme.pk, "EUR"]
    assert week["EUR"].steps == ()  # nothing moved it in the last 7 days
    assert week["KWD"].carried == Figures(D("5.125"), D(0), D(0))
    assert [s.at for s in week["KWD"].steps] == [m["kwd_deleted"], m["kwd_again"]]

    # Born and deleted inside the window: nothing carried, two steps, gone at the end.
    beta_week = {s.currency: s for s in service_series(beta, days=7, now=NOW)}
    usdt = beta_week["USDT_TRC20"]
    assert usdt.carried is None
    assert steps_of(usdt) == [
        (m["usdt"], "created", "manual", Figures(D("0.12345678"), D(0), D(0))),
        (m["usdt_deleted"], "deleted", "manual", None),
    ]
    assert usdt.final is None


def test_a_change_exactly_at_the_window_start_is_carried_not_repeated(timeline):
    acme, m = timeline.acme, timeline.moments
    end = m["acme_edit"] + timedelta(days=30)
    eur = next(s for s in service_series(acme, days=30, now=end) if s.currency == "EUR")
    assert eur.start == m["acme_edit"]
    assert eur.carried == Figures(D("1250.50"), D(0), D(0))
    assert [s.at for s in eur.steps] == [m["sync"], m["payout"]]


def test_a_balance_deleted_before_the_window_is_not_charted(timeline):
    beta = timeline.beta
    later = NOW + timedelta(days=8)  # USDT_TRC20 was deleted 10 days before
    assert [s.currency for s in service_series(beta, days=7, now=later)] == ["EUR"]


@pytest.mark.parametrize("currencies", [1, 6])
def test_the_series_of_a_service_cost_two_queries_whatever_its_currencies(
    db, chart_clock, django_assert_num_queries, currencies
):
    service = ServiceFactory()
    person = Actor.system()
    codes = ["EUR", "USD", "GBP", "JPY", "KWD", "CHF"][:currencies]
    for code in codes:
        chart_clock.now = NOW - timedelta(days=40)
        balance_create(service=service, currency=code, amount="1", actor=person)
        for day in (20, 10, 1):
            chart_clock.now = NOW - timedelta(days=day)
            balance_update(
                service=service,
                currency=code,
                amount=str(day),
                expected_version=None,
                actor=person,
                reason="r",
            )
    # 1 the balances as of the window's start, 2 the changes inside the window
    with django_assert_num_queries(2):
        series = service_series(service, days=30, now=NOW)
    assert [s.currency for s in series] == sorted(codes)
    assert all(len(s.steps) == 3 for s in series)


@pytest.mark.parametrize(
    ("raw", "days"),
    [
        ("7", 7),
        ("90", 90),
        (" 30 ", 30),
        ("8", 30),
        ("", 30),
        (None, 30),
        ("7\x00", 30),
        ("9" * 5000, 30),
    ],
)
def test_the_window_is_one_of_the_offered_ones(raw, days):
    assert window_days(raw) == days


# --- totals across services ---------------------------------------------------------------


def totals_now() -> dict[str, Figures]:
    totals: dict[str, Figures] = {}
    for (_, code), f in all_balances().items():
        t = totals.get(code, Figures(D(0), D(0), D(0)))
        totals[code] = Figures(
            t.available + f.available, t.pending + f.pending, t.reserved + f.reserved
        )
    return totals


def summed(state: dict[tuple[int, str], Figures], code: str) -> Figures:
    values = [f for (_, c), f in state.items() if c == code]
    return Figures(
        *(sum((v.get(name) for v in values), D(0)) for name in ("available", "pending", "reserved"))
    )


@pytest.mark.parametrize("days", [7, 30, 90])
def test_fleet_totals_equal_the_sum_of_the_balances_at_each_day_end(timeline, days):
    series = {s.currency: s for s in fleet_series(current=totals_now(), days=days, now=NOW)}
    # USDT_TRC20 has no balance now but had one two days ago: still charted over 7+ days.
    assert list(series) == ["EUR", "KWD", "USDT_TRC20"]
    for code, fleet in series.items():
        assert len(fleet.points) == days + 1
        *day_ends, now_point = fleet.points
        assert now_point.is_now and now_point.at == NOW
        assert now_point.figures == summed(timeline.state_before(NOW + timedelta(seconds=1)), code)
        assert [p.at for p in day_ends] == [
            datetime(2026, 12, 3, tzinfo=UTC) - timedelta(days=days - 1 - i) for i in range(days)
        ]
        for point in day_ends:
            assert point.figures == summed(timeline.state_before(point.at), code), (code, point.at)


def test_fleet_totals_see_a_deletion_as_a_delta(timeline):
    usdt = next(
        s for s in fleet_series(current=totals_now(), days=7, now=NOW) if s.currency == "USDT_TRC20"
    )
    by_day = {p.at.date(): p.figures.available for p in usdt.points if not p.is_now}
    # created three days before NOW (09:00 UTC), deleted two days before
    assert by_day[datetime(2026, 12, 1).date()] == D("0.12345678")  # end of 30 Nov
    assert by_day[datetime(2026, 12, 2).date()] == D(0)  # end of 1 Dec
    assert usdt.points[-1].figures == Figures(D(0), D(0), D(0))


@pytest.mark.parametrize("services", [1, 12])
def test_fleet_totals_cost_one_query_whatever_the_services(
    db, chart_clock, django_assert_num_queries, services
):
    for service in ServiceFactory.create_batch(services):
        for code in ("EUR", "USD"):
            chart_clock.now = NOW - timedelta(days=5)
            balance_create(service=service, currency=code, amount="2.50", actor=Actor.system())
            chart_clock.now = NOW - timedelta(days=2)
            balance_delete(service=service, currency=code, actor=Actor.system())
    with django_assert_num_queries(1):
        series = fleet_series(current={}, days=7, now=NOW)
    eur = next(s for s in series if s.currency == "EUR")
    assert [p.figures.available for p in eur.points][-4:] == [
        D("2.50") * services,
        D(0),
        D(0),
        D(0),
    ]
