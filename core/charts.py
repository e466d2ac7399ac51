"""Line charts drawn on the server as inline SVG: no JavaScript, no build step, no inline style
(the CSP forbids it; colours and dashes come from static/css/charts.css by class).

Amounts stay exact ``Decimal``s up to here.  Only the coordinates are floats: they place a
point on the drawing and nothing else.  Every label shows the exact value, formatted by the
caller's ``format_value`` (the currency's digits).

The drawing is a fixed ``viewBox`` scaled to the width of its container, so it stays legible
on a phone: labels sit inside the plot (above the highest and below the lowest gridline)
rather than in a left gutter that long amounts would widen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

WIDTH = 400
HEIGHT = 196
PLOT_LEFT, PLOT_RIGHT = 6.0, 394.0
PLOT_TOP, PLOT_BOTTOM = 30.0, 150.0
LOW_LABEL_GAP = 17.0
TIME_LABEL_Y = 191.0
MARKER_SIZE = 4.5
# Room above and below the data inside the plot, as a share of the data's range.
PAD = 0.06

# Marker kinds and their shapes: told apart by shape as well as colour.
SHAPES: dict[str, str] = {
    "manual": "circle",
    "sync": "square",
    "payout": "triangle",
    "approved": "diamond",
    "review": "triangle-down",
    "system": "cross",
}


@dataclass(frozen=True)
class Line:
    """One figure over time.  ``points`` are in time order; a ``None`` value means the figure
    stops there (a deleted balance) until the next value.  A stepped line holds each value
    until the next point; a plain one joins the points."""

    key: str
    label: str
    points: Sequence[tuple[datetime, Decimal | None]]
    stepped: bool = True
    extend_to_end: bool = True


@dataclass(frozen=True)
class Marker:
    kind: str  # a key of SHAPES
    at: datetime
    value: Decimal
    label: str  # the tooltip: what happened, exact


@dataclass(frozen=True)
class DrawnLine:
    key: str
    label: str
    segments: list[list[tuple[float, float]]]

    @property
    def polylines(self) -> list[str]:
        """Each segment as an SVG ``points`` attribute."""
        return [" ".join(f"{x:.1f},{y:.1f}" for x, y in seg) for seg in self.segments]


@dataclass(frozen=True)
class DrawnMarker:
    kind: str
    shape: str
    path: str
    label: str


@dataclass(frozen=True)
class Gridline:
    y: float
    label: str
    label_y: float
    kind: str  # "high", "low" or "zero"


@dataclass(frozen=True)
class Tick:
    x: float
    label: str
    anchor: str


@dataclass(frozen=True)
class Drawing:
    lines: list[DrawnLine]
    markers: list[DrawnMarker]
    gridlines: list[Gridline]
    ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: float = PLOT_LEFT
    plot_right: float = PLOT_RIGHT
    time_label_y: float = TIME_LABEL_Y
    marker_kinds: list[str] = field(default_factory=list)

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"


@dataclass(frozen=True)
class _Scale:
    start: datetime
    end: datetime
    low: float
    high: float

    def x(self, at: datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1.0
        share = min(max((at - self.start).total_seconds() / span, 0.0), 1.0)
        return PLOT_LEFT + share * (PLOT_RIGHT - PLOT_LEFT)

    def y(self, value: Decimal) -> float:
        share = (float(value) - self.low) / (self.high - self.low)
        return PLOT_BOTTOM - share * (PLOT_BOTTOM - PLOT_TOP)


def _scale(lines: Sequence[Line], start: datetime, end: datetime) -> _Scale | None:
    values = [v for line in lines for _, v in line.points if v is not None]
    if not values:
        return None
    low, high = float(min(values)), float(max(values))
    pad = (high - low) * PAD or max(abs(high) * PAD, 1.0)
    return _Scale(start=start, end=end, low=low - pad, high=high + pad)


def line_segments(line: Line, end: datetime) -> list[list[tuple[datetime, Decimal]]]:
    """The line as runs of (time, value) vertices: a stepped line gets a horizontal then a
    vertical edge per change; a ``None`` value ends the run where it happens."""
    segments: list[list[tuple[datetime, Decimal]]] = []
    current: list[tuple[datetime, Decimal]] = []
    for at, value in line.points:
        if current and line.stepped:
            current.append((at, current[-1][1]))
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        if not current or current[-1] != (at, value):
            current.append((at, value))
    if current:
        if line.extend_to_end and current[-1][0] < end:
            current.append((end, current[-1][1]))
        segments.append(current)
    return segments


def _polygon(*points: tuple[float, float]) -> str:
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points) + " Z"


def _marker_path(shape: str, x: float, y: float) -> str:
    r = MARKER_SIZE
    if shape == "circle":
        return f"M{x - r:.1f},{y:.1f} a{r},{r} 0 1,0 {2 * r},0 a{r},{r} 0 1,0 {-2 * r},0 Z"
    if shape == "square":
        return f"M{x - r:.1f},{y - r:.1f} h{2 * r} v{2 * r} h{-2 * r} Z"
    if shape == "triangle":
        return _polygon((x, y - 1.3 * r), (x + 1.2 * r, y + r), (x - 1.2 * r, y + r))
    if shape == "triangle-down":
        return _polygon((x, y + 1.3 * r), (x + 1.2 * r, y - r), (x - 1.2 * r, y - r))
    if shape == "diamond":
        d = 1.3 * r
        return _polygon((x, y - d), (x + d, y), (x, y + d), (x - d, y))
    # a cross: two strokes
    return (
        f"M{x - r:.1f},{y - r:.1f} L{x + r:.1f},{y + r:.1f} "
        f"M{x - r:.1f},{y + r:.1f} L{x + r:.1f},{y - r:.1f}"
    )


def legend_path(kind: str) -> str:
    """The marker's shape in a 14 by 14 box, for the legend next to the chart."""
    return _marker_path(SHAPES.get(kind, "cross"), 7.0, 7.0)


def _gridlines(
    lines: Sequence[Line], scale: _Scale, format_value: Callable[[Decimal], str]
) -> list[Gridline]:
    values = [v for line in lines for _, v in line.points if v is not None]
    high, low = max(values), min(values)
    rows = [Gridline(scale.y(high), format_value(high), scale.y(high) - 5, "high")]
    if low != high:
        rows.append(Gridline(scale.y(low), format_value(low), scale.y(low) + LOW_LABEL_GAP, "low"))
    if low < 0 < high:
        rows.append(
            Gridline(scale.y(Decimal(0)), format_value(Decimal(0)), scale.y(Decimal(0)) - 4, "zero")
        )
    return rows


def _ticks(start: datetime, end: datetime, label: Callable[[datetime], str]) -> list[Tick]:
    middle = start + (end - start) / 2
    return [
        Tick(PLOT_LEFT, label(start), "start"),
        Tick((PLOT_LEFT + PLOT_RIGHT) / 2, label(middle), "middle"),
        Tick(PLOT_RIGHT, label(end), "end"),
    ]


def draw(
    *,
    lines: Sequence[Line],
    markers: Sequence[Marker],
    start: datetime,
    end: datetime,
    format_value: Callable[[Decimal], str],
    format_time: Callable[[datetime], str],
) -> Drawing | None:
    """The drawing of ``lines`` between ``start`` and ``end``; None when nothing has a value."""
    scale = _scale(lines, start, end)
    if scale is None:
        return None
    drawn = [
        DrawnLine(
            key=line.key,
            label=line.label,
            segments=[
                [(scale.x(at), scale.y(v)) for at, v in seg] for seg in line_segments(line, end)
            ],
        )
        for line in lines
    ]
    points = [
        DrawnMarker(
            kind=m.kind,
            shape=SHAPES.get(m.kind, "cross"),
            path=_marker_path(SHAPES.get(m.kind, "cross"), scale.x(m.at), scale.y(m.value)),
            label=m.label,
        )
        for m in markers
    ]
    return Drawing(
        lines=drawn,
        markers=points,
        gridlines=_gridlines(lines, scale, format_value),
        ticks=_ticks(start, end, format_time),
        marker_kinds=[k for k in SHAPES if any(m.kind == k for m in markers)],
    )


# --- what a page shows: the drawing, its legend and its table alternative ------------------


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = False
    negative: bool = False


@dataclass(frozen=True)
class Table:
    """The chart's data as a table, for screen readers and small screens: the first cell of
    each row is its header (``scope="row"``)."""

    caption: str
    headers: list[tuple[str, bool]]  # (label, numeric)
    rows: list[list[Cell]]
    note: str = ""

    @property
    def labelled_rows(self) -> list[list[tuple[str, Cell]]]:
        """Each cell with its column's label (shown beside it on a phone)."""
        labels = [label for label, _ in self.headers]
        return [list(zip(labels, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class LegendEntry:
    kind: str  # "line" or "marker"
    key: str
    label: str

    @property
    def path(self) -> str:
        return legend_path(self.key) if self.kind == "marker" else "M1,7 H13"


@dataclass(frozen=True)
class Chart:
    """Everything ``{% chart %}`` renders.  ``dom_id`` must be unique on the page."""

    dom_id: str
    title: str
    description: str
    drawing: Drawing | None
    legend: list[LegendEntry]
    table: Table
    summary: str  # the label of the <details> that opens the table
    empty_text: str = "No recorded change in this period."
    note: str = ""


@dataclass(frozen=True)
class Period:
    days: int
    label: str
    query: str  # the page's query string with this period chosen
    current: bool


def periods(params: Mapping[str, str], current: int, choices: Sequence[int]) -> list[Period]:
    """Links to the same page with another window (``?days=``), keeping the other parameters
    (filters) and dropping the page number, which belongs to another list's length."""
    kept = {k: v for k, v in params.items() if k not in ("days", "page")}
    return [
        Period(
            days=days,
            label=f"{days} days",
            query=urlencode({**kept, "days": days}),
            current=days == current,
        )
        for days in choices
    ]
