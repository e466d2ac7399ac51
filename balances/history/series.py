"""Balances over a window of days, for the charts: per balance, every step exactly as the
history recorded it; across all services, the totals per currency at the end of each day.

Per balance (``service_series``): the figures carried into the window are the balance as of
the window's start (``asof.changes_as_of``: the latest entry at or before it), then one step
per ``BalanceChange`` after it, with the figures after the change.  Two queries for a service
whatever the number of its currencies.

Across services (``fleet_series``): the totals now (the overview has them already) minus the
sum of the changes after each day's end.  A change's delta is new minus old; a creation adds
its figures and a deletion takes its last figures away, so deleted balances count exactly
while they existed.  One aggregate query grouped by day and currency, whatever the number of
services.  Days are UTC days; the last point is now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from balances.history.asof import changes_as_of
from balances.models import BalanceChange
from core.actors import ActorType
from core.money.dbfields import AmountField, AmountSum
from services.models import Service

WINDOWS = (7, 30, 90)
DEFAULT_WINDOW = 30
FIGURES = ("available", "pending", "reserved")
ZERO = Decimal(0)

# What a step's marker says about who moved the balance (core.charts.SHAPES).
MARKER_LABELS: dict[str, str] = {
    "manual": "Manual change",
    "sync": "Provider sync",
    "payout": "Payout",
    "approved": "Approved request",
    "review": "Review decision",
    "system": "System",
}


def window_days(raw: object) -> int:
    """The window asked for (``?days=7``): one of WINDOWS, else the default.  A selector's
    value, so anything else falls back rather than failing the page."""
    text = raw.strip() if isinstance(raw, str) else ""
    return int(text) if text in {str(w) for w in WINDOWS} else DEFAULT_WINDOW


@dataclass(frozen=True)
class Figures:
    available: Decimal
    pending: Decimal
    reserved: Decimal

    def get(self, figure: str) -> Decimal:
        value: Decimal = getattr(self, figure)
        return value


@dataclass(frozen=True)
class Step:
    """One history entry inside the window and the balance after it (``None``: deleted)."""

    at: datetime
    kind: str
    kind_label: str
    marker: str
    actor: str
    approved_by: str
    reason: str
    figures: Figures | None
    change: Decimal | None  # available after minus before; None when neither existed


@dataclass(frozen=True)
class Series:
    """One currency of one service over the window from ``start`` to ``end``."""

    currency: str
    start: datetime
    end: datetime
    carried: Figures | None  # the balance at ``start`` (None: it did not exist then)
    carried_since: datetime | None  # when the carried figures were set
    steps: tuple[Step, ...]

    def shows(self, figure: str) -> bool:
        """Whether ``figure`` is drawn: available always, the others when not all zero."""
        if figure == "available":
            return True
        states = [self.carried, *(s.figures for s in self.steps)]
        return any(f is not None and f.get(figure) != 0 for f in states)

    @property
    def final(self) -> Figures | None:
        return self.steps[-1].figures if self.steps else self.carried


def marker_of(change: BalanceChange) -> str:
    """The kind of marker of a change: review decisions and approved requests first (their
    actor is the requester), then by actor."""
    if change.kind == BalanceChange.Kind.REVIEWED:
        return "review"
    if change.approval_public_id or change.approved_by_label:
        return "approved"
    by_actor: dict[str, str] = {
        ActorType.USER: "manual",
        ActorType.SYNC: "sync",
        ActorType.PAYOUT: "payout",
    }
    return by_actor.get(change.actor_type, "system")


def _figures_after(change: BalanceChange, before: Figures | None) -> Figures | None:
    """The balance after ``change``.  An entry without figures other than a deletion (a
    review decision that kept the value) leaves the balance as it was."""
    if change.kind == BalanceChange.Kind.DELETED:
        return None
    if change.new_available is None:
        return before
    prior = before or Figures(ZERO, ZERO, ZERO)
    return Figures(
        available=change.new_available,
        pending=change.new_pending if change.new_pending is not None else prior.pending,
        reserved=change.new_reserved if change.new_reserved is not None else prior.reserved,
    )


def _step(change: BalanceChange, before: Figures | None) -> Step:
    after = _figures_after(change, before)
    change_of_available = None
    if before is not None or after is not None:
        change_of_available = (after.available if after else ZERO) - (
            before.available if before else ZERO
        )
    approver = change.approved_by_label
    return Step(
        at=change.created_at,
        kind=change.kind,
        kind_label=change.get_kind_display(),
        marker=marker_of(change),
        actor=change.actor_label,
        approved_by=approver,
        reason=change.reason,
        figures=after,
        change=change_of_available,
    )


def _series(
    currency: str,
    start: datetime,
    end: datetime,
    carried: BalanceChange | None,
    changes: Iterable[BalanceChange],
) -> Series:
    state = _figures_after(carried, None) if carried is not None else None
    steps = []
    for change in changes:
        step = _step(change, state)
        steps.append(step)
        state = step.figures
    return Series(
        currency=currency,
        start=start,
        end=end,
        carried=_figures_after(carried, None) if carried is not None else None,
        carried_since=carried.created_at if carried is not None else None,
        steps=tuple(steps),
    )


def service_series(
    service: Service, *, days: int = DEFAULT_WINDOW, now: datetime | None = None
) -> list[Series]:
    """Every currency the service had during the last ``days`` days, sorted by code.
    Queries: 2 (the balances as of the window's start; the changes inside the window)."""
    end = now or timezone.now()
    start = end - timedelta(days=days)
    carried = {c.currency: c for c in changes_as_of(start, service_ids=[service.pk])}
    within: dict[str, list[BalanceChange]] = defaultdict(list)
    window = BalanceChange.objects.filter(
        service_id=service.pk, created_at__gt=start, created_at__lte=end
    ).order_by("currency", "created_at", "id")
    for change in window:
        within[change.currency].append(change)
    return [
        _series(code, start, end, carried.get(code), within.get(code, []))
        for code in sorted(set(carried) | set(within))
    ]


# --- totals across services ---------------------------------------------------------------


@dataclass(frozen=True)
class FleetPoint:
    at: datetime
    figures: Figures
    is_now: bool = False


@dataclass(frozen=True)
class FleetSeries:
    """One currency's totals across every service: at the end of each UTC day of the
    window, then now."""

    currency: str
    start: datetime
    end: datetime
    points: tuple[FleetPoint, ...]

    def shows(self, figure: str) -> bool:
        if figure == "available":
            return True
        return any(p.figures.get(figure) != 0 for p in self.points)


def _delta(figure: str) -> AmountSum:
    """The sum of what the changes did to ``figure``: a creation adds the new figure, a
    deletion takes the old one away, anything else adds new minus old (an entry without
    figures adds nothing)."""
    new, old = F(f"new_{figure}"), F(f"old_{figure}")
    return AmountSum(
        Case(
            When(kind=BalanceChange.Kind.CREATED, then=new),
            When(kind=BalanceChange.Kind.DELETED, then=Value(0) - old),
            When(
                Q(**{f"new_{figure}__isnull": False, f"old_{figure}__isnull": False}),
                then=new - old,
            ),
            default=Value(0),
            output_field=AmountField(),
        ),
        output_field=AmountField(),
    )


def _day_end(day: date) -> datetime:
    """The end of a UTC day: the first instant of the next one (a change at that instant
    belongs to the next day)."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def daily_deltas(since: datetime, until: datetime) -> dict[str, dict[date, Figures]]:
    """Per currency and UTC day, the sum of every service's changes in [since, until].
    Queries: 1."""
    rows = (
        BalanceChange.objects.filter(created_at__gte=since, created_at__lte=until)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .order_by()
        .values("currency", "day")
        .annotate(**{f"delta_{f}": _delta(f) for f in FIGURES})
    )
    result: dict[str, dict[date, Figures]] = defaultdict(dict)
    for row in rows:
        sums: dict[str, Any] = dict(row)  # the annotations' names are built above
        result[sums["currency"]][sums["day"]] = Figures(
            *(sums[f"delta_{f}"] or ZERO for f in FIGURES)
        )
    return result


def fleet_series(
    *,
    current: Mapping[str, Figures],
    days: int = DEFAULT_WINDOW,
    now: datetime | None = None,
) -> list[FleetSeries]:
    """Totals per currency at the end of each of the last ``days`` UTC days and now, from
    ``current`` (the totals now, per currency) and the history.  Currencies with no balance
    now but changes in the window (all deleted) are included.  Queries: 1."""
    end = now or timezone.now()
    today = end.astimezone(UTC).date()
    day_ends = [_day_end(today - timedelta(days=days - i)) for i in range(days)]
    deltas = daily_deltas(day_ends[0], end)
    series = []
    for code in sorted(set(current) | set(deltas)):
        by_day = deltas.get(code, {})
        state = current.get(code, Figures(ZERO, ZERO, ZERO))
        points = [FleetPoint(at=end, figures=state, is_now=True)]
        # Walk back from now: the end of a day is the state before that day's successor.
        for at in reversed(day_ends):
            later = by_day.get(at.date())
            if later is not None:
                state = Figures(*(state.get(f) - later.get(f) for f in FIGURES))
            points.append(FleetPoint(at=at, figures=state))
        points.reverse()
        series.append(FleetSeries(currency=code, start=day_ends[0], end=end, points=tuple(points)))
    return series
