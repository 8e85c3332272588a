"""The dashboards' time series chart, drawn on the server as SVG: the geometry here, the markup in
templates/reporting/chart.html (no script, no CDN).

The chart is as wide as the page and of a fixed height, so that its labels stay readable on a phone
and on a desktop alike: positions are percentages of the plot area (0 to 100, y downwards), the
lines are drawn in a 100 x 100 viewBox stretched to the plot, and the markers and labels are placed
in percentages of it. It is readable without colour: the current period is a solid line with round
markers, the comparison period a dashed line with square ones; its figures are a table beneath.

Hours and days without any figure are zero, not skipped: the slots of a period are listed here,
and the rows of reporting.query.run() filled into them. A rate with nothing to divide by (the CTR
of an hour without impressions) is no value: a gap in its line, not a zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from babel.numbers import format_compact_decimal

from campaigns.charts import Tick, compact_money
from reporting.query import METRIC_LABELS, MONEY_METRICS, ZERO, Row
from reporting.tables import format_metric

Slot = date | datetime  # a day, or the UTC start of an hour
Value = int | float | None

MAX_MARKERS = 31  # more markers than this on one line blur into it: every n-th point is marked
MAX_X_TICKS = 7
Y_TICKS = 4  # about this many steps up the axis


@dataclass(frozen=True, slots=True)
class Series:
    """One period's figure, slot by slot (None: nothing to divide by)."""

    slots: tuple[Slot, ...]
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Marker:
    x: float  # percent of the plot's width
    y: float  # percent of the plot's height, from the top
    text: str  # "Mon 3 Mar 2025: $12.00", shown on hover


@dataclass(frozen=True, slots=True)
class Line:
    key: str  # "current" or "previous": the class that styles it
    name: str
    path: str  # SVG path data in the plot's 0-100 viewBox; a gap starts a new subpath
    markers: tuple[Marker, ...]
    marker_shape: str  # "circle" (current) or "square" (previous)


@dataclass(frozen=True, slots=True)
class TimeChart:
    title: str  # "Spend by day"
    summary: str  # the chart in a sentence or two, for screen readers (<desc>)
    lines: tuple[Line, ...]
    x_ticks: tuple[Tick, ...]  # `at` in percent of the plot's width
    y_ticks: tuple[Tick, ...]  # `at` in percent of its height, from the top
    empty: bool  # no figure at all in either period


# Slots ---------------------------------------------------------------------------------------------


def day_slots(start: date, end: date) -> tuple[date, ...]:
    return tuple(start + timedelta(days=n) for n in range((end - start).days + 1))


def hour_slots(start: date, end: date, zone: tzinfo) -> tuple[datetime, ...]:
    """The UTC hours of the advertiser's days [start, end], in order: 23, 24 or 25 a day across a
    daylight-saving change; in a zone half an hour off UTC, the first begins before midnight (the
    rollups are by UTC hour)."""
    first = datetime.combine(start, time.min, zone).astimezone(UTC)
    last = datetime.combine(end + timedelta(days=1), time.min, zone).astimezone(UTC)
    hour = first.replace(minute=0, second=0, microsecond=0)
    slots = []
    while hour < last:
        slots.append(hour)
        hour += timedelta(hours=1)
    return tuple(slots)


def slots(start: date, end: date, grain: str, zone: tzinfo) -> tuple[Slot, ...]:
    return hour_slots(start, end, zone) if grain == "hour" else day_slots(start, end)


def fill(rows: Iterable[Row], slots: Sequence[Slot], metric: str, *, now: datetime, zone: tzinfo) -> Series:
    """The metric in each slot, from the rows of a report by ("day",) or ("hour",): a slot without
    a row has the figures of nothing (zero; None for a rate). A slot still to come has no value
    (today's chart stops at the current hour, rather than drop to zero)."""
    by_slot = {row.key[0]: row.totals for row in rows}  # aware datetimes match by instant
    today = now.astimezone(zone).date()

    def value(slot: Slot) -> Value:
        to_come = slot > now if isinstance(slot, datetime) else slot > today
        return None if to_come and slot not in by_slot else by_slot.get(slot, ZERO).metric(metric)

    return Series(tuple(slots), tuple(value(slot) for slot in slots))


def slot_label(slot: Slot, zone: tzinfo) -> str:
    """A slot as a table shows it: "Mon 3 Mar 2025", "Mon 3 Mar 2025 14:00"."""
    if isinstance(slot, datetime):
        return f"{slot.astimezone(zone):%a %-d %b %Y %H:%M}"
    return f"{slot:%a %-d %b %Y}"


# The chart -----------------------------------------------------------------------------------------


def time_chart(
    metric: str,
    current: Series,
    previous: Series | None,
    *,
    currency: str,
    zone: tzinfo,
    grain: str,
) -> TimeChart:
    """`current` and `previous` (the comparison period) share the x axis slot by slot: the
    comparison's n-th day is drawn above the current period's n-th day, whatever their dates."""
    count = len(current.slots)
    if previous is not None:
        previous = Series(previous.slots[:count], previous.values[:count])
    previous_values = previous.values if previous is not None else ()
    known = [float(v) for v in (*current.values, *previous_values) if v is not None]
    integer = metric not in ("ctr", "cvr", "roas")
    low, high, step = scale(min([0.0, *known]), max([0.0, *known]), integer=integer, empty_top=_unit(metric))
    label = METRIC_LABELS[metric]

    def x(index: int) -> float:
        return 50.0 if count <= 1 else round(100 * index / (count - 1), 2)

    def y(value: float) -> float:
        return round(100 * (high - value) / (high - low), 2)

    every = max(1, math.ceil(count / MAX_MARKERS))

    def line(key: str, name: str, series: Series, values: Sequence[Value], shape: str) -> Line:
        path: list[str] = []
        markers: list[Marker] = []
        pen_down = False
        for index, value in enumerate(values):
            if value is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{x(index)},{y(float(value))}")
            pen_down = True
            if index % every == 0 or index == count - 1:
                text = f"{slot_label(series.slots[index], zone)}: {format_metric(metric, value, currency)}"
                markers.append(Marker(x(index), y(float(value)), text))
        return Line(key, name, " ".join(path), tuple(markers), shape)

    lines = [line("current", "This period", current, current.values, "circle")]
    if previous is not None:
        lines.append(line("previous", "Comparison period", previous, previous_values, "square"))
    ticks = []
    level = low
    while level <= high + step / 1000:
        ticks.append(Tick(y(level), axis_label(metric, level, step, currency)))
        level = round(level + step, 12)
    title = f"{label} by {grain}"
    return TimeChart(
        title=title,
        summary=summary(metric, current, previous, currency=currency, zone=zone),
        lines=tuple(lines),
        x_ticks=tuple(Tick(x(index), text) for index, text in x_ticks(current.slots, grain, zone)),
        y_ticks=tuple(ticks),
        empty=not any(known),
    )


def scale(low: float, high: float, *, integer: bool, empty_top: float) -> tuple[float, float, float]:
    """The axis' bottom, top and step: round numbers (1, 2, 2.5 or 5 times a power of ten) taking
    in [low, high], which includes 0. Counts and micros step by whole units."""
    if high == low:
        high = empty_top
    raw = (high - low) / Y_TICKS
    magnitude = 10 ** math.floor(math.log10(raw))
    step = 10 * magnitude
    for mantissa in (1, 2, 2.5, 5):
        if integer and mantissa == 2.5 and magnitude < 10:
            continue
        if mantissa * magnitude >= raw:
            step = mantissa * magnitude
            break
    if integer:
        step = max(1.0, round(step))
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _unit(metric: str) -> float:
    """The top of the axis when there is nothing to draw: a scale that reads as "nothing"."""
    if metric in MONEY_METRICS:
        return 10_000_000.0  # 10 units of the currency
    if metric in ("ctr", "cvr"):
        return 0.01
    if metric == "roas":
        return 1.0
    return 10.0


def axis_label(metric: str, value: float, step: float, currency: str) -> str:
    """A y tick: "$1.2K", "12K", "2.5%", "1.5" with a multiplication sign."""
    if metric in MONEY_METRICS:
        return compact_money(round(value), currency)
    if metric in ("ctr", "cvr"):
        return f"{value * 100:.{_decimals(step * 100)}f}%"
    if metric == "roas":
        return f"{value:.{_decimals(step)}f}\u00d7"
    return format_compact_decimal(round(value), locale="en_US", fraction_digits=1)


def _decimals(step: float) -> int:
    """The fewest decimals that write every multiple of `step` exactly."""
    for decimals in range(5):
        if abs(round(step, decimals) - step) < 1e-9:
            return decimals
    return 5


def x_ticks(slots: Sequence[Slot], grain: str, zone: tzinfo) -> list[tuple[int, str]]:
    """(slot index, label) of the labelled slots: at most MAX_X_TICKS, at round times."""
    count = len(slots)
    if grain == "day":
        every = max(1, math.ceil(count / MAX_X_TICKS))
        return [(index, f"{slot:%-d %b}") for index, slot in enumerate(slots) if index % every == 0]
    local = [slot.astimezone(zone) for slot in slots if isinstance(slot, datetime)]
    if count <= 48:
        every = 3 if count <= 24 else 6
        return [
            (index, f"{at:%-d %b}" if at.hour == 0 and count > 24 else f"{at:%H:%M}")
            for index, at in enumerate(local)
            if at.hour % every == 0
        ]
    # Several days by hour: their midnights (the first hour of a half-hour zone's day).
    days = [index for index, at in enumerate(local) if index == 0 or at.date() != local[index - 1].date()]
    every = max(1, math.ceil(len(days) / MAX_X_TICKS))
    return [(index, f"{local[index]:%-d %b}") for n, index in enumerate(days) if n % every == 0]


def summary(metric: str, current: Series, previous: Series | None, *, currency: str, zone: tzinfo) -> str:
    """What the chart shows, in words: the highest and lowest point of each period."""
    label = METRIC_LABELS[metric]

    def describe(series: Series, name: str) -> str:
        points = [
            (value, slot)
            for value, slot in zip(series.values, series.slots, strict=True)
            if value is not None
        ]
        if not points or not any(value for value, _ in points):
            return f"{name}: no {label.lower()}."
        highest = max(points, key=lambda point: point[0])
        lowest = min(points, key=lambda point: point[0])
        top = f"highest {format_metric(metric, highest[0], currency)} on {slot_label(highest[1], zone)}"
        bottom = f"lowest {format_metric(metric, lowest[0], currency)} on {slot_label(lowest[1], zone)}"
        return f"{name}: {top}, {bottom}."

    parts = [describe(current, "This period (solid line, round markers)")]
    if previous is not None:
        parts.append(describe(previous, "Comparison period (dashed line, square markers)"))
    return " ".join(parts)
