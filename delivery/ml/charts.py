"""The model card's charts, drawn on the server as SVG: the geometry here, the markup in
templates/admin/delivery/modelversion/ (no script, no CDN), as campaigns/charts.py does for pacing.

Both read a version's `metrics` JSON as the trainer wrote it and skip what they cannot read: a chart
with nothing to draw is None, and the card says so. Each is readable without colour and comes with
its figures as a table.

- The reliability chart: each bin of holdout rows (by predicted rate) as a point, mean predicted on x
  against the observed rate on y, on log scales (click and conversion rates run from 0.1% to 10%, and
  a model that is 20% off is as far off at 0.2% as at 5%), with the diagonal where the two agree.
- The features' chart: each feature's mean absolute contribution to the raw score, as bars.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from campaigns.charts import Box, Tick

NICE_STEPS = (1.0, 2.0, 5.0)
LOWEST_RATE = 1e-5  # the log scale's floor: below it, a rate is drawn as this
FEATURES_SHOWN = 15
EMPTY = "—"


# ---------------------------------------------------------------------------------------------------
# Numbers as people read them


def finite(value: Any) -> float | None:
    """A JSON number that is a real number, else None (missing keys, nulls, strings, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def percent(rate: float | None) -> str:
    """A rate with three significant digits: 0.00123 -> "0.123%", 0.05 -> "5%"."""
    if rate is None:
        return EMPTY
    return f"{rate * 100:.3g}%"


def decimal(value: float | None, digits: int = 4) -> str:
    return EMPTY if value is None else f"{value:.{digits}f}"


def significant(value: float | None, digits: int = 3) -> str:
    return EMPTY if value is None else f"{value:.{digits}g}"


# ---------------------------------------------------------------------------------------------------
# The reliability chart


@dataclass(frozen=True, slots=True)
class Bin:
    x: float  # centre, in viewBox units
    y: float
    r: float  # radius: the area grows with the bin's rows
    hollow: bool  # no positive in the bin: drawn on the x axis, where the log scale cannot reach
    predicted: str
    observed: str
    ratio: str  # predicted / observed
    rows: str


@dataclass(frozen=True, slots=True)
class ReliabilityChart:
    box: Box
    bins: tuple[Bin, ...]
    line_points: str  # "x,y x,y" through the bins with positives, in order of prediction
    diagonal: tuple[float, float, float, float]  # x1, y1, x2, y2 where predicted = observed
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    empty_bins: int  # bins without a positive (hollow, on the x axis)
    summary: str  # the chart in two sentences, for screen readers and the caption

    @property
    def x_middle(self) -> float:
        return (self.box.left + self.box.right) / 2

    @property
    def y_middle(self) -> float:
        return (self.box.top + self.box.bottom) / 2


RELIABILITY_BOX = Box(width=380, height=336, left=58, right=366, top=12, bottom=290)


def nice_floor(value: float) -> float:
    """The largest of 1, 2, 5 x 10^k at or below `value` (positive)."""
    power = 10.0 ** math.floor(math.log10(value))
    return max(step * power for step in NICE_STEPS if step * power <= value * (1 + 1e-9))


def nice_ceil(value: float) -> float:
    power = 10.0 ** math.floor(math.log10(value))
    return min(step * power for step in (*NICE_STEPS, 10.0) if step * power >= value * (1 - 1e-9))


def log_domain(values: Iterable[float]) -> tuple[float, float]:
    """Bounds on 1-2-5 values around the positive `values`, at least a decade apart (widened on
    both sides in turn, so that a calibrated model sits mid-chart), within [LOWEST_RATE, 1]."""
    positive = [min(max(v, LOWEST_RATE), 1.0) for v in values if v > 0]
    if not positive:
        return 1e-3, 1e-1
    low, high = nice_floor(min(positive)), nice_ceil(max(positive))
    upward = True
    while high / low < 10 * (1 - 1e-9):
        if (upward and high < 1.0) or low <= LOWEST_RATE:
            high = nice_ceil(high * 1.01)
        else:
            low = nice_floor(low * 0.99)
        upward = not upward
    return low, high


def log_ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 x 10^k between the bounds for a chart spanning two decades or less, else 1 x 10^k."""
    steps = NICE_STEPS if math.log10(high / low) <= 2 + 1e-9 else (1.0,)
    ticks = []
    for power in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        for step in steps:
            value = step * 10.0**power
            if low * (1 - 1e-9) <= value <= high * (1 + 1e-9):
                ticks.append(value)
    return ticks


def reliability_bins(raw: Any) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, rows) of each readable bin, in order of prediction."""
    bins = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        predicted, observed, rows = (
            finite(item.get("predicted")),
            finite(item.get("observed")),
            item.get("rows"),
        )
        if predicted is None or observed is None or not isinstance(rows, int) or rows <= 0 or predicted <= 0:
            continue
        bins.append((predicted, max(observed, 0.0), rows))
    return sorted(bins)


def reliability_chart(raw: Any) -> ReliabilityChart | None:
    """The chart of a version's `metrics["reliability"]`; None when no bin can be drawn."""
    bins = reliability_bins(raw)
    if not bins:
        return None
    box = RELIABILITY_BOX
    low, high = log_domain([p for p, _, _ in bins] + [o for _, o, _ in bins])
    span = math.log10(high) - math.log10(low)

    def position(rate: float, start: float, end: float) -> float:
        share = (math.log10(min(max(rate, low), high)) - math.log10(low)) / span
        return round(start + (end - start) * share, 1)

    def x(rate: float) -> float:
        return position(rate, box.left, box.right)

    def y(rate: float) -> float:
        return position(rate, box.bottom, box.top)

    most = max(rows for _, _, rows in bins)
    drawn = tuple(
        Bin(
            x=x(predicted),
            y=y(observed) if observed > 0 else float(box.bottom),
            r=round(2.5 + 5.5 * math.sqrt(rows / most), 1),
            hollow=observed <= 0,
            predicted=percent(predicted),
            observed=percent(observed),
            ratio=significant(predicted / observed) if observed > 0 else EMPTY,
            rows=f"{rows:,}",
        )
        for predicted, observed, rows in bins
    )
    ticks = log_ticks(low, high)
    total = sum(rows for _, _, rows in bins)
    predicted_positives = sum(p * rows for p, _, rows in bins)
    observed_positives = sum(o * rows for _, o, rows in bins)
    overall = (
        f"Over all bins the model predicted {significant(predicted_positives / observed_positives)} times "
        "the positives observed."
        if observed_positives > 0
        else "No bin had a positive."
    )
    summary = (
        f"{len(bins)} bins of {total:,} holdout rows by predicted rate, from {percent(bins[0][0])} to "
        f"{percent(bins[-1][0])} predicted. {overall} Points on the dashed diagonal are calibrated; "
        "above it the model predicts too low, below it too high."
    )
    return ReliabilityChart(
        box=box,
        bins=drawn,
        line_points=" ".join(f"{b.x},{b.y}" for b in drawn if not b.hollow),
        diagonal=(x(low), y(low), x(high), y(high)),
        x_ticks=tuple(Tick(x(value), percent(value)) for value in ticks),
        y_ticks=tuple(Tick(y(value), percent(value)) for value in ticks),
        empty_bins=sum(1 for b in drawn if b.hollow),
        summary=summary,
    )


# ---------------------------------------------------------------------------------------------------
# The features' contributions


@dataclass(frozen=True, slots=True)
class Bar:
    name: str
    y: float  # the bar's top
    text_y: float  # the baseline of its name and value, level with the bar's middle
    width: float
    label_x: float  # where its value is written, after the bar's end
    contribution: str
    share: str  # of all the contributions listed


@dataclass(frozen=True, slots=True)
class FeatureChart:
    box: Box
    bars: tuple[Bar, ...]
    bar_height: int
    x_ticks: tuple[Tick, ...]
    more: int  # features left out of the chart (they are in the table)
    rows: tuple[Bar, ...]  # every feature, for the table
    summary: str

    @property
    def x_middle(self) -> float:
        return (self.box.left + self.box.right) / 2

    @property
    def title_y(self) -> int:
        return self.box.label_y + 16


BAR_STEP = 20
BAR_HEIGHT = 13


def feature_contributions(raw: Any) -> list[tuple[str, float]]:
    """(name, mean |contribution|) of each readable entry, largest first."""
    found = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        name, contribution = item.get("name"), finite(item.get("contribution"))
        if isinstance(name, str) and name and contribution is not None and contribution >= 0:
            found.append((name, contribution))
    return sorted(found, key=lambda pair: (-pair[1], pair[0]))


def linear_ticks(high: float, count: int = 4) -> list[float]:
    """0 and about `count` round steps up to `high`."""
    step = nice_ceil(high / count)
    return [step * i for i in range(int(high / step + 1e-9) + 1)]


def feature_chart(raw: Any, *, shown: int = FEATURES_SHOWN) -> FeatureChart | None:
    """The bars of a version's `metrics["top_features"]`, the largest `shown`; None when empty."""
    contributions = feature_contributions(raw)
    if not contributions or contributions[0][1] <= 0:
        return None
    top = contributions[:shown]
    highest = nice_ceil(top[0][1])
    bottom = 8 + BAR_STEP * len(top)
    box = Box(width=440, height=bottom + 42, left=140, right=380, top=8, bottom=bottom)
    total = sum(value for _, value in contributions)

    def width(value: float) -> float:
        return round((box.right - box.left) * value / highest, 1)

    def bar(rank: int, name: str, value: float) -> Bar:
        return Bar(
            name=name,
            y=box.top + BAR_STEP * rank + (BAR_STEP - BAR_HEIGHT) / 2,
            text_y=box.top + BAR_STEP * rank + BAR_STEP / 2 + 4,
            width=width(value),
            label_x=box.left + width(value) + 4,
            contribution=significant(value),
            share=f"{value / total * 100:.1f}%" if total > 0 else EMPTY,
        )

    rows = tuple(bar(rank, name, value) for rank, (name, value) in enumerate(contributions))
    leading = ", ".join(f"{row.name} ({row.share})" for row in rows[:3])
    return FeatureChart(
        box=box,
        bars=rows[: len(top)],
        bar_height=BAR_HEIGHT,
        x_ticks=tuple(Tick(round(box.left + width(v), 1), significant(v, 2)) for v in linear_ticks(highest)),
        more=len(contributions) - len(top),
        rows=rows,
        summary=f"{len(contributions)} features by mean absolute contribution to the score; the largest: "
        f"{leading}.",
    )
