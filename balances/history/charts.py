"""The charts of balances over time as pages show them (``core.charts``): a stepped line per
figure with a marker per change on the balances page, the day-end totals per currency on the
overview, and each one's table alternative with the exact amounts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from balances.history.series import (
    FIGURES,
    MARKER_LABELS,
    WINDOWS,
    Figures,
    FleetSeries,
    Series,
    Step,
    fleet_series,
    service_series,
    window_days,
)
from core import charts
from core.money import currencies
from services.models import Service

# Beyond this many changes in a window, markers are left out (the lines stay exact) and the
# table lists the latest ones: a page stays light however busy a balance is.
DETAIL_LIMIT = 500
# A day's end is the first instant of the next day; its date is the second before.
_SECOND = timedelta(seconds=1)
FIGURE_LABELS = {"available": "Available", "pending": "Pending", "reserved": "Reserved"}


def _money(value: Decimal | None, code: str) -> str:
    return "—" if value is None else currencies.format_amount(value, code)


def _signed(value: Decimal | None, code: str) -> str:
    if value is None:
        return "—"
    text = currencies.format_amount(value, code)
    return f"+{text}" if value > 0 else text


def utc_time(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S}"


def _day(at: datetime) -> str:
    return f"{at.day} {at:%b}"


def _legend(lines: list[charts.Line], markers: list[str]) -> list[charts.LegendEntry]:
    return [
        *(charts.LegendEntry("line", line.key, line.label) for line in lines),
        *(charts.LegendEntry("marker", kind, MARKER_LABELS[kind]) for kind in markers),
    ]


def _amount_cells(figures: Figures | None, code: str) -> list[charts.Cell]:
    """The three figures (dashes for a deleted balance), exact with the currency's digits."""
    return [
        charts.Cell(
            _money(figures.get(f) if figures is not None else None, code),
            numeric=True,
            negative=figures is not None and figures.get(f) < 0,
        )
        for f in FIGURES
    ]


# --- one balance --------------------------------------------------------------------------


def _balance_lines(series: Series) -> list[charts.Line]:
    lines = []
    for figure in FIGURES:
        if not series.shows(figure):
            continue
        points: list[tuple[datetime, Decimal | None]] = []
        if series.carried is not None:
            points.append((series.start, series.carried.get(figure)))
        points += [(s.at, s.figures.get(figure) if s.figures else None) for s in series.steps]
        lines.append(charts.Line(key=figure, label=FIGURE_LABELS[figure], points=points))
    return lines


def _step_label(step: Step, code: str) -> str:
    value = "deleted" if step.figures is None else f"{_money(step.figures.available, code)} {code}"
    return f"{utc_time(step.at)} UTC · {MARKER_LABELS[step.marker]} · {step.kind_label}: {value}"


def _markers(series: Series) -> list[charts.Marker]:
    """A marker where each change leaves the available line (at the last value for a
    deletion, where the line ends)."""
    markers = []
    last = series.carried.available if series.carried else None
    for step in series.steps:
        value = step.figures.available if step.figures else last
        if value is not None:
            label = _step_label(step, series.currency)
            markers.append(charts.Marker(step.marker, step.at, value, label))
        last = step.figures.available if step.figures else None
    return markers


def _balance_rows(series: Series) -> list[list[charts.Cell]]:
    code = series.currency
    rows = []
    if series.carried is not None:
        since = series.carried_since
        rows.append(
            [
                charts.Cell(utc_time(series.start)),
                charts.Cell(
                    f"Carried in (as of the start; set {utc_time(since) if since else 'earlier'})"
                ),
                charts.Cell(""),
                *_amount_cells(series.carried, code),
                charts.Cell("—", numeric=True),
            ]
        )
    for step in series.steps[-DETAIL_LIMIT:]:
        actor = step.actor + (f" (approved by {step.approved_by})" if step.approved_by else "")
        rows.append(
            [
                charts.Cell(utc_time(step.at)),
                charts.Cell(f"{step.kind_label} · {MARKER_LABELS[step.marker]}"),
                charts.Cell(actor),
                *_amount_cells(step.figures, code),
                charts.Cell(
                    _signed(step.change, code),
                    numeric=True,
                    negative=step.change is not None and step.change < 0,
                ),
            ]
        )
    return rows


def _balance_description(series: Series, days: int) -> str:
    code = series.currency
    first = series.carried.available if series.carried else None
    final = series.final
    counts: dict[str, int] = {}
    for step in series.steps:
        counts[step.marker] = counts.get(step.marker, 0) + 1
    changes = ", ".join(f"{MARKER_LABELS[k].lower()}: {n}" for k, n in counts.items())
    start = f"{_money(first, code)} {code}" if first is not None else "no balance"
    end = f"{_money(final.available, code)} {code}" if final else "no balance (deleted)"
    return (
        f"Available {code} over the last {days} days, from {utc_time(series.start)} to "
        f"{utc_time(series.end)} UTC: {start} at the start, {end} at the end; "
        f"{len(series.steps)} change{'s' if len(series.steps) != 1 else ''}"
        + (f" ({changes})." if changes else ".")
    )


def _hidden_note(hidden: int) -> str:
    if hidden <= 0:
        return ""
    if hidden == 1:
        return "1 earlier change of this period is in the history."
    return f"{hidden} earlier changes of this period are in the history."


def balance_chart(series: Series, *, days: int) -> charts.Chart:
    code = series.currency
    lines = _balance_lines(series)
    markers = _markers(series) if len(series.steps) <= DETAIL_LIMIT else []
    drawing = charts.draw(
        lines=lines,
        markers=markers,
        start=series.start,
        end=series.end,
        format_value=lambda v: f"{currencies.format_amount(v, code)} {code}",
        format_time=_day,
    )
    hidden = len(series.steps) - DETAIL_LIMIT
    return charts.Chart(
        dom_id=f"chart-{code}",
        title=f"{code} balance, last {days} days",
        description=_balance_description(series, days),
        drawing=drawing,
        legend=_legend(lines, drawing.marker_kinds if drawing else []),
        table=charts.Table(
            caption=f"{code} balance changes, last {days} days (times in UTC)",
            headers=[
                ("Time (UTC)", False),
                ("Kind", False),
                ("Actor", False),
                ("Available", True),
                ("Pending", True),
                ("Reserved", True),
                ("Change", True),
            ],
            rows=_balance_rows(series),
            note=_hidden_note(hidden),
        ),
        summary=f"Table of the {code} balance over the last {days} days",
        note="Too many changes to mark each one: the table and the history list them."
        if hidden > 0
        else "",
    )


# --- totals across services ---------------------------------------------------------------


def _fleet_rows(series: FleetSeries) -> list[list[charts.Cell]]:
    code = series.currency
    rows = []
    previous: Figures | None = None
    for point in series.points:
        change: Decimal | None = (
            None if previous is None else point.figures.available - previous.available
        )
        label = (
            f"Now ({utc_time(point.at)})"
            if point.is_now
            else f"End of {point.at - _SECOND:%Y-%m-%d}"
        )
        rows.append(
            [
                charts.Cell(label),
                *_amount_cells(point.figures, code),
                charts.Cell(
                    _signed(change, code), numeric=True, negative=bool(change and change < 0)
                ),
            ]
        )
        previous = point.figures
    return rows


def fleet_chart(series: FleetSeries, *, days: int) -> charts.Chart:
    code = series.currency
    lines = [
        charts.Line(
            key=figure,
            label=FIGURE_LABELS[figure],
            points=[(p.at, p.figures.get(figure)) for p in series.points],
            stepped=False,
        )
        for figure in FIGURES
        if series.shows(figure)
    ]
    first, last = series.points[0].figures.available, series.points[-1].figures.available
    return charts.Chart(
        dom_id=f"fleet-chart-{code}",
        title=f"{code} total across services, last {days} days",
        description=(
            f"Total available {code} of every service at the end of each UTC day and now: "
            f"{_money(first, code)} {code} at the end of {series.start - _SECOND:%Y-%m-%d}, "
            f"{_money(last, code)} {code} now."
        ),
        drawing=charts.draw(
            lines=lines,
            markers=[],
            start=series.start,
            end=series.end,
            format_value=lambda v: f"{currencies.format_amount(v, code)} {code}",
            format_time=_day,
        ),
        legend=_legend(lines, []),
        table=charts.Table(
            caption=f"{code} totals across services at the end of each day (UTC)",
            headers=[
                ("Day end (UTC)", False),
                ("Available", True),
                ("Pending", True),
                ("Reserved", True),
                ("Change", True),
            ],
            rows=_fleet_rows(series),
        ),
        summary=f"Table of the {code} totals over the last {days} days",
    )


# --- what the pages add to their context --------------------------------------------------


def balances_page_charts(service: Service, params: Mapping[str, str]) -> dict[str, Any]:
    """The balances page's charts, one per currency the service had in the window chosen by
    ``?days=``.  Queries: 2 (service_series)."""
    days = window_days(params.get("days"))
    return {
        "chart_days": days,
        "chart_periods": charts.periods(params, days, WINDOWS),
        "balance_charts": [balance_chart(s, days=days) for s in service_series(service, days=days)],
    }


def overview_charts(totals: Iterable[Any], params: Mapping[str, str]) -> dict[str, Any]:
    """The overview's charts of the totals per currency; ``totals`` are the totals now (with
    ``currency``, ``available``, ``pending`` and ``reserved``).  Queries: 1 (fleet_series)."""
    days = window_days(params.get("days"))
    current = {t.currency: Figures(t.available, t.pending, t.reserved) for t in totals}
    return {
        "chart_days": days,
        "chart_periods": charts.periods(params, days, WINDOWS),
        "fleet_charts": [
            fleet_chart(s, days=days) for s in fleet_series(current=current, days=days)
        ],
    }
