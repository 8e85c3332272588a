"""Charts drawn on the server as SVG: the geometry here, the markup in templates (no script, no CDN).

A chart is readable without colour (the plan is dashed, the spend solid, both named in a legend) and
without the picture: each comes with its figures as a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal

from babel.numbers import format_compact_currency

from accounts.money import format_micros, micros_to_decimal
from campaigns.models import CampaignDay

HOURS = 24


@dataclass(frozen=True, slots=True)
class Box:
    """A chart's viewBox and the plot area inside it (the margins hold the axis labels)."""

    width: int = 400
    height: int = 210
    left: int = 48
    right: int = 380
    top: int = 14
    bottom: int = 180

    @property
    def label_y(self) -> int:
        return self.bottom + 18


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # the coordinate along its axis, in viewBox units
    label: str


@dataclass(frozen=True, slots=True)
class HourRow:
    hours: str  # "09:00 to 10:00", with an en dash
    planned: str  # the plan's cumulative spend by the hour's end
    spent: str  # the cumulative spend by the hour's end; "" for hours to come
    so_far: bool = False  # the hour of the last update: its spend is not final


@dataclass(frozen=True, slots=True)
class PacingChart:
    """Cumulative plan and spend of a campaign's budget day, by local hour."""

    box: Box
    plan_points: str  # "x,y x,y ..." for a polyline; "" when there is no plan
    spent_points: str
    spent_end: tuple[float, float] | None  # the last measured point, marked
    now_x: float | None  # the current local time, on today's chart
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    rows: tuple[HourRow, ...]
    summary: str  # the chart in one sentence, for screen readers


def compact_money(micros: int, currency: str) -> str:
    """An axis label: "$1.2K", "$50"."""
    return format_compact_currency(micros_to_decimal(micros), currency, locale="en_US", fraction_digits=1)


def hours_into(day: CampaignDay, at: datetime, zone: tzinfo) -> float:
    """The local time of `at` on the budget day's clock, in hours: 10:30 is 10.5 (so a day that
    changes to or from summer time still reads 00:00 to 24:00); before the day 0, after it 24."""
    local = at.astimezone(zone)
    if local.date() < day.day:
        return 0.0
    if local.date() > day.day:
        return float(HOURS)
    return local.hour + local.minute / 60 + local.second / 3600


def pacing_chart(day: CampaignDay, currency: str, zone: tzinfo, *, now: datetime | None) -> PacingChart:
    """The chart of `day` in the advertiser's time zone; `now` draws the current time (today's chart)."""
    box = Box()
    plan = [int(value) for value in (day.hourly_plan or [])][:HOURS]
    spent = [int(value) for value in (day.hourly_spent or [])][:HOURS]
    highest = max([day.budget_micros, *plan, *spent, 1])

    def x(hours: float) -> float:
        return round(box.left + (box.right - box.left) * min(max(hours, 0.0), HOURS) / HOURS, 1)

    def y(micros: int) -> float:
        # A position to draw, not an amount: the ratio of two integers, as pixels.
        return round(box.bottom - (box.bottom - box.top) * float(Decimal(micros) / Decimal(highest)), 1)

    plan_series = [(0.0, 0)] + [(hour + 1.0, value) for hour, value in enumerate(plan)]
    # Each hour's spend is measured at its end, except the last: measured when pacing last ran.
    spent_series = [(0.0, 0)] + [(hour + 1.0, value) for hour, value in enumerate(spent)]
    if spent and day.updated_at is not None:
        updated = hours_into(day, day.updated_at, zone)
        if len(spent) - 1 <= updated <= len(spent):
            spent_series[-1] = (updated, spent[-1])
    # The current time is drawn only on today's chart.
    now_hours = (
        hours_into(day, now, zone) if now is not None and now.astimezone(zone).date() == day.day else None
    )

    def points(series: list[tuple[float, int]]) -> str:
        return " ".join(f"{x(hours)},{y(value)}" for hours, value in series)

    budget = day.budget_micros
    levels = [0, budget // 2, budget] if budget > 0 else [0, highest]
    last_hours, last_spent = spent_series[-1]
    summary = (
        f"By {clock(last_hours)}, {format_micros(last_spent, currency)} spent against "
        f"{format_micros(plan_at(plan, last_hours), currency)} planned, "
        f"of a {format_micros(budget, currency)} day budget."
    )
    return PacingChart(
        box=box,
        plan_points=points(plan_series) if plan else "",
        spent_points=points(spent_series) if spent else "",
        spent_end=(x(last_hours), y(last_spent)) if spent else None,
        now_x=x(now_hours) if now_hours is not None else None,
        y_ticks=tuple(Tick(y(level), compact_money(level, currency)) for level in levels),
        x_ticks=tuple(Tick(x(hour), f"{hour:02d}:00") for hour in range(0, HOURS + 1, 6)),
        rows=tuple(
            HourRow(
                hours=f"{hour:02d}:00\N{EN DASH}{hour + 1:02d}:00",
                planned=format_micros(plan[hour], currency) if hour < len(plan) else "—",
                spent=format_micros(spent[hour], currency) if hour < len(spent) else "",
                so_far=hour == len(spent) - 1 and last_hours < hour + 1,
            )
            for hour in range(HOURS)
        ),
        summary=summary,
    )


def plan_at(plan: list[int], hours: float) -> int:
    """The plan's cumulative spend `hours` into the day: linear within an hour, as the plan is."""
    whole = min(max(int(hours), 0), len(plan))
    if whole >= len(plan):
        return plan[-1] if plan else 0
    before = plan[whole - 1] if whole >= 1 else 0
    fraction = Decimal(str(round(max(hours, 0.0) - whole, 6)))
    return before + int((plan[whole] - before) * fraction)


def clock(hours: float) -> str:
    """Hours into the day as a time of day: 10.5 -> "10:30"."""
    minutes = min(max(int(hours * 60), 0), HOURS * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
