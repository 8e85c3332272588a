"""The figures of a report page, from the rollups: the headline figures with their change, the
breakdown table with the comparison period's values, and the chart's figures as a table.

Each table here is a reporting.tables.Table, the shape the exports write: what a page shows is
what its export holds (dashboards.py builds both with the same functions).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Any

from reporting import query, tables
from reporting.charts import Series, slot_label
from reporting.query import DIMENSION_LABELS, METRIC_LABELS, Spec, Totals
from reporting.tables import Cell, Column, Table, format_metric, metric_kind

HEADLINE = (
    "spend",
    "impressions",
    "reach",
    "clicks",
    "ctr",
    "cpc",
    "cpm",
    "conversions",
    "cvr",
    "cpa",
    "roas",
)
LOWER_IS_BETTER = frozenset({"cpc", "cpm", "cpa"})
REACH_NOTE = "Estimated (±2.3%), of people with a cookie or device id."
NO_REACH_NOTE = "Counted for the account and campaigns only: who was reached is kept by campaign."
MINUS = "\u2212"
DASH = "\u2013"


def relative_change(current: int | float | None, previous: int | float | None) -> float | None:
    """(current - previous) / previous, for rates too (a CTR from 2.0% to 2.5% is +25%). None when
    there is nothing to compare with: no previous value, or one of zero or less (a period of net
    credits has no meaningful base)."""
    if current is None or previous is None or previous <= 0:
        return None
    return (current - previous) / previous


def format_change(change: float | None) -> str:
    """+12.3%, or -4.0% written with a real minus sign, or 0.0%; an en dash when there is nothing to
    compare with."""
    if change is None:
        return DASH
    text = f"{abs(change) * 100:.1f}%"
    if text == "0.0%":
        return text
    return f"+{text}" if change > 0 else f"{MINUS}{text}"


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    label: str
    value: str
    previous: str = ""
    change: str = DASH
    direction: str = ""  # "up", "down", "flat", or "" when there is nothing to compare
    verdict: str = ""  # "good" or "bad": colour only; the sign and the arrow say the same
    available: bool = True
    note: str = ""

    @property
    def spoken_change(self) -> str:
        """The change as a screen reader says it ("up 12.3% from $10.00")."""
        if not self.direction:
            return "no comparison"
        if self.direction == "flat":
            return f"unchanged from {self.previous}"
        return f"{self.direction} {self.change.lstrip('+' + MINUS)} from {self.previous}"


def headline(
    current: Totals, previous: Totals, currency: str, *, reach: tuple[int | None, int | None] | None
) -> list[Figure]:
    """The headline figures and their change. `reach` is the people reached in each period
    (reporting.reach), or None where it cannot be counted: then it says so, never an estimate
    from the other figures."""
    figures = []
    for key in HEADLINE:
        if key == "reach":
            if reach is None:
                figures.append(Figure(key, "Reach", "Not available", available=False, note=NO_REACH_NOTE))
            else:
                figures.append(replace(figure(key, "Reach", *reach, currency), note=REACH_NOTE))
            continue
        figures.append(figure(key, METRIC_LABELS[key], current.metric(key), previous.metric(key), currency))
    return figures


def figure(
    key: str, label: str, now: int | float | None, before: int | float | None, currency: str
) -> Figure:
    change = relative_change(now, before)
    direction = "" if change is None else "up" if change > 0 else "down" if change < 0 else "flat"
    verdict = ""
    if direction in ("up", "down") and key != "spend":  # more spend is neither good nor bad
        verdict = "good" if (direction == "up") != (key in LOWER_IS_BETTER) else "bad"
    return Figure(
        key,
        label,
        format_metric(key, now, currency),
        previous=format_metric(key, before, currency),
        change=format_change(change),
        direction=direction,
        verdict=verdict,
    )


def comparison_metric(sort: str) -> str:
    """The figure whose comparison the breakdown shows: the one it is sorted by, or spend."""
    return sort if sort in tables.DEFAULT_METRICS else "spend"


def breakdown_table(
    spec: Spec,
    comparison: Spec,
    *,
    dimension: str,
    sort: str,
    descending: bool,
    previous_total: Totals | None = None,
) -> Table:
    """The table by one dimension, with the comparison period's value and the change of one figure
    (comparison_metric) for each row and for the total. A row is matched to the comparison period by
    its value (the same country, the same hour of the day), a day by its place in the period."""
    table = tables.build(
        spec.but(dimensions=(dimension,)), tables.DEFAULT_METRICS, sort=sort, descending=descending
    )
    metric = comparison_metric(sort)
    previous = query.by(comparison, dimension)
    if previous_total is None:
        previous_total = query.totals(comparison)
    shift = spec.start - comparison.start

    def earlier(value: Any) -> Any:
        return value - shift if dimension == "day" else value

    position = [column.key for column in table.columns].index(metric)
    label = METRIC_LABELS[metric]
    currency = spec.advertiser.currency
    columns = [
        *table.columns,
        Column(f"{metric}_comparison", f"{label}, comparison period", metric_kind(metric)),
        Column(f"{metric}_change", f"{label}, change", "ratio"),
    ]

    def extra(current: Cell, before: Totals) -> list[Cell]:
        value = before.metric(metric)
        change = relative_change(current.value, value)
        return [Cell(value, format_metric(metric, value, currency)), Cell(change, format_change(change))]

    rows = [
        [*row, *extra(row[position], previous.get(earlier(row[0].value), query.ZERO))] for row in table.rows
    ]
    total = [*table.total, *extra(table.total[position], previous_total)]
    return replace(table, columns=columns, rows=rows, total=total)


def top_campaigns(spec: Spec) -> Table:
    """The ten campaigns of most spend; the total is of all of them, and says so."""
    table = tables.build(spec.but(dimensions=("campaign",)), tables.DEFAULT_METRICS, sort="spend", limit=10)
    return replace(table, total=[Cell(None, "All campaigns"), *table.total[1:]])


def series_table(
    metric: str,
    grain: str,
    current: Series,
    previous: Series,
    *,
    totals: tuple[Totals, Totals],
    currency: str,
    zone: tzinfo,
) -> Table:
    """The chart's figures, slot by slot, beside the comparison period's: the table under the chart
    and its export. The total row is each period's figure over the whole period."""
    label, kind = METRIC_LABELS[metric], metric_kind(metric)
    unit = DIMENSION_LABELS[grain]
    columns = [
        Column(grain, unit, "dimension"),
        Column(metric, label, kind),
        Column(f"comparison_{grain}", f"Comparison {unit.lower()}", "dimension"),
        Column(f"comparison_{metric}", f"{label}, comparison period", kind),
    ]
    rows = []
    for index, (slot, value) in enumerate(zip(current.slots, current.values, strict=True)):
        if index < len(previous.slots):
            before, before_slot = previous.values[index], slot_label(previous.slots[index], zone)
            shown = format_metric(metric, before, currency)
        else:  # a comparison period shorter than this one has no n-th day
            before, before_slot, shown = None, "", ""
        rows.append(
            [
                Cell(slot, slot_label(slot, zone)),
                Cell(value, format_metric(metric, value, currency)),
                Cell(previous.slots[index] if before_slot else None, before_slot),
                Cell(before, shown),
            ]
        )
    now, then = (t.metric(metric) for t in totals)
    total = [
        Cell(None, "Total"),
        Cell(now, format_metric(metric, now, currency)),
        Cell(None, ""),
        Cell(then, format_metric(metric, then, currency)),
    ]
    return Table(columns, rows, total, sort=grain, descending=False)
