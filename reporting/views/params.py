"""What a report page shows, read from its URL, so that a view can be shared by its link.

    range=today|yesterday|7d|30d|month|custom (+ start, end: YYYY-MM-DD, for custom)
    compare=previous|custom (+ compare_start, compare_end)
    metric=<one of query.METRICS>, grain=hour|day (the chart)
    breakdown=<a dimension the page offers>, sort=<a column of that table>, dir=asc|desc

A value that does not parse never fails the page: its default is used and a note naming the
parameter says so (`ReportParams.problems`). An export refuses instead (dashboards.py): a file
must not silently hold another report than the one asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.http import QueryDict

from accounts.models import Advertiser
from reporting import tables
from reporting.query import DIMENSION_LABELS, METRICS, TIME_DIMENSIONS, Spec

RANGES = (
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("month", "This month"),
    ("custom", "Custom range"),
)
COMPARISONS = (("previous", "Previous period"), ("custom", "Custom period"))
GRAINS = (("hour", "By hour"), ("day", "By day"))
DEFAULT_RANGE = "7d"
MAX_DAYS = 366  # a year, leap day included: more is a different question (and a slow page)
MAX_HOURLY_DAYS = 31  # an hourly chart of more days has more points than the chart has pixels
# Days a custom range may name: the rollups start long after the first, and the second keeps
# date arithmetic (the previous period, a day's end) far from the calendar's limits.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)

# Which part of the page shows the note about each parameter.
PERIOD_FIELDS = ("range", "start", "end", "compare", "compare_start", "compare_end")
CHART_FIELDS = ("metric", "grain")
TABLE_FIELDS = ("breakdown", "sort", "dir")


@dataclass(frozen=True, slots=True)
class Problem:
    field: str  # the query string parameter at fault
    message: str


@dataclass(frozen=True, slots=True)
class Period:
    """Advertiser days, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        """Mon 3 Mar 2025; 3 Mar to 9 Mar 2025 (with an en dash); 28 Dec 2024 to 3 Jan 2025."""
        if self.start == self.end:
            return f"{self.start:%a %-d %b %Y}"
        first = f"{self.start:%-d %b}" if self.start.year == self.end.year else f"{self.start:%-d %b %Y}"
        return f"{first} \N{EN DASH} {self.end:%-d %b %Y}"


@dataclass(frozen=True)
class ReportParams:
    range: str  # a key of RANGES
    period: Period
    compare: str  # a key of COMPARISONS
    comparison: Period
    metric: str
    grain: str
    breakdown: str
    sort: str  # a column of the breakdown table
    descending: bool
    problems: tuple[Problem, ...] = field(default=())

    @property
    def range_label(self) -> str:
        return dict(RANGES)[self.range]

    def spec(self, advertiser: Advertiser, filters: dict[str, tuple[Any, ...]]) -> Spec:
        return Spec(advertiser, self.period.start, self.period.end, filters=filters)

    def comparison_spec(self, spec: Spec) -> Spec:
        if self.compare == "previous":
            return spec.previous()
        return spec.but(start=self.comparison.start, end=self.comparison.end)

    def state(self) -> dict[str, str]:
        """The parameters that show this page again."""
        values = {"range": self.range}
        if self.range == "custom":
            values |= {"start": self.period.start.isoformat(), "end": self.period.end.isoformat()}
        values["compare"] = self.compare
        if self.compare == "custom":
            values |= {
                "compare_start": self.comparison.start.isoformat(),
                "compare_end": self.comparison.end.isoformat(),
            }
        values |= {
            "metric": self.metric,
            "grain": self.grain,
            "breakdown": self.breakdown,
            "sort": self.sort,
            "dir": "desc" if self.descending else "asc",
        }
        return values

    def query(self, **changes: str) -> str:
        """This page's query string with some parameters changed ("" drops one)."""
        values = self.state() | changes
        return "?" + urlencode({key: value for key, value in values.items() if value})

    def period_query(self) -> str:
        """The query string of this page's days only: for a link to another report of them."""
        days = {key: value for key, value in self.state().items() if key in PERIOD_FIELDS}
        return "?" + urlencode(days)

    def problems_for(self, fields: tuple[str, ...]) -> list[Problem]:
        return [problem for problem in self.problems if problem.field in fields]


def parse(data: QueryDict, advertiser: Advertiser, breakdowns: tuple[str, ...]) -> ReportParams:
    """The page's parameters from its query string; `breakdowns` are the tables the page offers,
    the first being the default."""
    problems: list[Problem] = []
    today = advertiser.local_today()
    range_key, period = _period(data, today, problems)
    compare, comparison = _comparison(data, Spec(advertiser, period.start, period.end), problems)
    metric = _choice(data, "metric", METRICS, "spend", problems)
    grain = _choice(data, "grain", ("hour", "day"), "hour" if period.days == 1 else "day", problems)
    if grain == "hour" and period.days > MAX_HOURLY_DAYS:
        problems.append(
            Problem("grain", f"An hourly chart covers at most {MAX_HOURLY_DAYS} days: shown by day instead.")
        )
        grain = "day"
    breakdown = _choice(data, "breakdown", breakdowns, breakdowns[0], problems)
    sort, descending = _sort(data, breakdown, problems)
    return ReportParams(
        range=range_key,
        period=period,
        compare=compare,
        comparison=comparison,
        metric=metric,
        grain=grain,
        breakdown=breakdown,
        sort=sort,
        descending=descending,
        problems=tuple(problems),
    )


def preset(key: str, today: date) -> Period:
    """The days of a range other than custom, ending today (the advertiser's)."""
    if key == "today":
        return Period(today, today)
    if key == "yesterday":
        return Period(today - timedelta(days=1), today - timedelta(days=1))
    if key == "month":
        return Period(today.replace(day=1), today)
    days = {"7d": 7, "30d": 30}[key]
    return Period(today - timedelta(days=days - 1), today)


def _period(data: QueryDict, today: date, problems: list[Problem]) -> tuple[str, Period]:
    keys = [key for key, _ in RANGES]
    key = _choice(data, "range", tuple(keys), DEFAULT_RANGE, problems)
    if key != "custom":
        return key, preset(key, today)
    period = _custom(data, "start", "end", "range", problems)
    if period is None:
        problems.append(Problem("range", f"Showing the {dict(RANGES)[DEFAULT_RANGE].lower()} instead."))
        return DEFAULT_RANGE, preset(DEFAULT_RANGE, today)
    return key, period


def _comparison(data: QueryDict, spec: Spec, problems: list[Problem]) -> tuple[str, Period]:
    previous = spec.previous()
    default = Period(previous.start, previous.end)
    key = _choice(data, "compare", tuple(key for key, _ in COMPARISONS), "previous", problems)
    if key == "previous":
        return key, default
    period = _custom(data, "compare_start", "compare_end", "comparison", problems)
    if period is None:
        problems.append(Problem("compare", "Compared with the previous period instead."))
        return "previous", default
    return key, period


def _custom(
    data: QueryDict, start_name: str, end_name: str, what: str, problems: list[Problem]
) -> Period | None:
    start = _day(data, start_name, f"the first day of the custom {what}", problems)
    end = _day(data, end_name, f"the last day of the custom {what}", problems)
    if start is None or end is None:
        return None
    if start > end:
        problems.append(Problem(end_name, f"The custom {what} ends ({end}) before it starts ({start})."))
        return None
    period = Period(start, end)
    if period.days > MAX_DAYS:
        problems.append(
            Problem(
                end_name,
                f"A custom {what} covers at most {MAX_DAYS} days; {start} to {end} is {period.days}.",
            )
        )
        return None
    return period


def _day(data: QueryDict, name: str, what: str, problems: list[Problem]) -> date | None:
    text = data.get(name, "").strip()
    if not text:
        problems.append(Problem(name, f"Give {what} as YYYY-MM-DD."))
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        problems.append(Problem(name, f"{text!r} is not a date: give {what} as YYYY-MM-DD."))
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        problems.append(
            Problem(name, f"{day} is outside the days a report covers ({FIRST_DAY} to {LAST_DAY}).")
        )
        return None
    return day


def _choice(
    data: QueryDict, name: str, allowed: tuple[str, ...], default: str, problems: list[Problem]
) -> str:
    value = data.get(name, "")
    if value == "":
        return default
    if value not in allowed:
        problems.append(
            Problem(name, f"Unknown {name} {value[:40]!r}: use {', '.join(allowed)}. Showing {default}.")
        )
        return default
    return value


def default_sort(breakdown: str) -> tuple[str, bool]:
    """Times in order, other breakdowns by spend, most first (as reporting.tables.build does)."""
    return (breakdown, False) if breakdown in TIME_DIMENSIONS else ("spend", True)


def _sort(data: QueryDict, breakdown: str, problems: list[Problem]) -> tuple[str, bool]:
    columns = (breakdown, *tables.DEFAULT_METRICS)
    sort, descending = default_sort(breakdown)
    asked = data.get("sort", "")
    if asked in columns:
        sort = asked
        descending = asked != breakdown  # the first click on a figure shows the most first
    elif asked:
        names = ", ".join(columns)
        label = DIMENSION_LABELS[breakdown].lower()
        problems.append(
            Problem("sort", f"{asked[:40]!r} is not a column of the table by {label}: use {names}.")
        )
    direction = data.get("dir", "")
    if direction in ("asc", "desc"):
        descending = direction == "desc"
    elif direction:
        problems.append(Problem("dir", f"Unknown dir {direction[:40]!r}: use asc or desc."))
    return sort, descending
