"""Reporting on 10 million raw events: rollups against the raw tables, side by side in one run.

The issue's bounds: dashboard pages and report API calls within 100 ms of server time (p95), each at
least 20 times faster than answering the same question from the raw events; an hour's rollup within
2 seconds; each rollup grain keeping at most 1/20 of the raw rows. And a projection for 100 million.

The data (bench.reporting_world): the demo world and eight more advertisers, ~50 campaigns, ~280
creatives, 20 placements, 30 countries, 4 device types; 60 days of decisions, impressions, clicks,
ledger entries and conversions drawn in PostgreSQL to the simulator's shape. It is written in two
steps, a tenth and then the rest (the first tenth is a fair sample of the whole), and everything is
measured at both sizes, ~1M and ~10M raw events: the projection to 100M extrapolates from the two.

At each size:
- every marked hour is rolled up by `rollup.roll_up()`, as the Celery task runs it, within a time
  budget (ROLLUP_BUDGET_S, newest hours first); the hours it leaves are filled by the bench,
  set-based (reporting_world.fill_pending_rollups), and the whole rollup's time is the mean hour's
  times the hours. Then the five busiest hours are rebuilt one by one (`rollup.rebuild_hour`),
  timed, and every rollup table's rows of those hours compared before and after: the fill wrote
  what the real code writes;
- at the larger size, the conversions reported a day or more late are held back until the rollup
  is done, then written, and their catch-up (`roll_up()` of the hours they marked) is timed;
- compression: each rollup table's rows over the raw rows;
- four questions of one account (Northstar Outdoor, New York, a quarter of the traffic), each
  answered by the real code (`reporting.query`, `reporting.tables`) and by SQL over the raw tables
  (each branch of rollup.py's union, over the range, grouped the way the question needs), the two
  answers checked equal (every sum, every row), timed side by side: 20 runs of the rollup path,
  3 of the raw one (warm: the raw tables are in the OS cache after the first run):
  (a) the account overview: totals of the last 30 days and the 30 before, the daily series, the top
      10 campaigns by spend;
  (b) a campaign page: its totals and daily series for 7 days, and the breakdown by country;
  (c) a campaign's hour-of-day breakdown over 30 days;
  (d) a report: dimensions day, campaign and country over 30 days (what the report API returns).
- the dashboard pages (URL names report_overview, report_campaign) and GET /api/v1/reports through
  django.test.Client as the account's admin (server time in-process, the whole middleware stack),
  each against its question's raw answer.

The projection to 100M events (the same span and world, ten times the traffic): the raw path's time
grows with the events (linear through the two sizes); the rollup path's with the rollup rows the
question reads (linear through the two sizes, intercept included: the fixed cost of the code), and
those rows are what reporting_world.expected_rows predicts at 100M (a Poisson model of the drawn
traffic, printed beside the counts at both sizes, which it matches within a few percent). An hour's
rebuild grows with the hour's raw rows (linear through the two sizes' busiest hours: pessimistic
where a part of the cost is fixed, optimistic where it grows with all the rows kept).
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from functools import partial
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import override_settings

from bench import reporting_world
from bench.reporting_world import ReportingWorld, expected_rows
from bench.results import Figure, expect
from campaigns.models import Campaign
from reporting import query, rollup, tables
from reporting.query import Spec, Totals
from reporting.tables import DEFAULT_METRICS

ROLLUP_RUNS = 20
RAW_RUNS = 3
PAGE_RUNS = 20
TARGET_MS = 100
MIN_SPEEDUP = 20
HOUR_TARGET_S = 2.0
# roll_up() runs until it has done every marked hour or its budget is spent (as the Celery task, with
# 50 s); the bench gives it this long, then fills what is left itself (RollupRun).
ROLLUP_BUDGET_S = float(os.environ.get("BENCH_REPORTING_ROLLUP_BUDGET", "60"))
LATE_BUDGET_S = float(os.environ.get("BENCH_REPORTING_LATE_BUDGET", "30"))
MAX_SHARE = 1 / 20  # of the raw rows a rollup grain may keep
BUSY_HOURS = 5
PROJECTED_EVENTS = 100_000_000
ROLLUP_TABLES = tuple(reporting_world.GRAINS)
QUESTIONS = ("overview", "campaign", "hour_of_day", "report")
PAGE_QUESTIONS = {"overview page": "overview", "campaign page": "campaign", "report API": "report"}
LABELS = {
    "overview": "overview (30 days + 30 before, daily, top 10)",
    "campaign": "campaign page (7 days, by country)",
    "hour_of_day": "campaign by hour of day (30 days)",
    "report": "report day x campaign x country (30 days)",
}


def run() -> list[Figure]:
    began = time.perf_counter()
    _empty_event_tables()
    world = reporting_world.build()
    print(
        f"reporting: world built: {world.described} ({world.cells:,} combinations); {world.decisions:,} "
        "decisions for "
        f"~{reporting_world.TARGET_EVENTS:,} raw events ({world.expected_rows_per_decision:.2f} a decision)",
        flush=True,
    )
    first = _stage(world, until=round(world.decisions * reporting_world.FIRST_SHARE), final=False)
    second = _stage(world, until=world.decisions, final=True)
    reporting_world.drop_draw_tables()
    print(f"reporting: done in {time.perf_counter() - began:.0f} s", flush=True)
    return _figures(world, first, second)


# One size -------------------------------------------------------------------------------------------


@dataclass
class Timing:
    rollup: list[float]  # seconds, each run
    raw: list[float]
    rollup_rows: int  # rollup rows the question reads
    raw_rows: int  # raw rows in the question's range (all advertisers: what the raw path must sift)
    expected_rows: float  # the rollup rows reporting_world.expected_rows predicts

    @property
    def rollup_p50(self) -> float:
        return statistics.median(self.rollup)

    @property
    def rollup_p95(self) -> float:
        return float(np.percentile(self.rollup, 95))

    @property
    def raw_p50(self) -> float:
        return statistics.median(self.raw)

    @property
    def raw_p95(self) -> float:
        return float(np.percentile(self.raw, 95))


@dataclass(frozen=True)
class RollupRun:
    """A roll_up() of whatever is marked, within a time budget; what it leaves, the bench fills."""

    hours: list[float]  # seconds of each hour it rebuilt
    seconds: float
    budget: float
    pending: int  # hours left when the budget ran out (filled by the bench, set-based)
    fill_seconds: float

    @property
    def complete(self) -> bool:
        return not self.pending

    @property
    def per_hour(self) -> float:
        return statistics.mean(self.hours) if self.hours else 0.0

    @property
    def total(self) -> float:
        """The whole rollup's time: measured, or the mean hour's times every hour when it did not
        finish within its budget."""
        return self.seconds if self.complete else self.per_hour * (len(self.hours) + self.pending)

    def describe(self) -> str:
        done = f"{len(self.hours):,} hours in {self.seconds:.0f} s ({self.per_hour * 1000:.0f} ms an hour"
        if self.complete:
            return done + ")"
        return (
            f"{done}, the newest first) before its {self.budget:.0f} s budget ran out, "
            f"{self.pending:,} left (filled by the bench, set-based, in {self.fill_seconds:.0f} s): "
            f"all of them ~{self.total:.0f} s"
        )


def _roll_up(budget: float, what: str) -> RollupRun:
    started = time.perf_counter()
    result = rollup.roll_up(budget_seconds=budget)
    seconds = time.perf_counter() - started
    pending = _count("(SELECT DISTINCT hour FROM reporting_dirty_hour) AS pending")
    fill_seconds = 0.0
    if pending:
        started = time.perf_counter()
        filled = reporting_world.fill_pending_rollups()
        expect(filled == pending, f"{filled} of {pending} pending hours filled")
        rollup.roll_up(budget_seconds=budget)  # nothing left: moves the watermark
        fill_seconds = time.perf_counter() - started
    run = RollupRun([h.seconds for h in result.hours], seconds, budget, pending, fill_seconds)
    print(f"reporting: roll_up of {what}: {run.describe()}", flush=True)
    return run


@dataclass
class Stage:
    raw_rows: int
    counts: dict[str, int]
    write_seconds: float
    rollup: RollupRun  # every hour
    hours: list[tuple[datetime, int, float]]  # busy hours: (hour, raw rows, rebuild seconds)
    decisions: int
    grains: dict[str, int]  # rows per rollup table
    expected_grains: dict[str, float]  # as reporting_world.expected_rows predicts them
    questions: dict[str, Timing] = field(default_factory=dict)
    pages: dict[str, list[float]] = field(default_factory=dict)
    late: tuple[int, RollupRun] | None = None  # late conversions, and their rollup


def _stage(world: ReportingWorld, *, until: int, final: bool) -> Stage:
    written = reporting_world.write(world, until, late=not final)
    print(
        f"reporting: decisions {written.decisions[0]:,}-{written.decisions[1]:,} written in "
        f"{written.seconds:.0f} s: {_describe(written.counts)}; {world.raw_rows:,} raw rows in all",
        flush=True,
    )
    everything = _roll_up(ROLLUP_BUDGET_S, "every hour")
    late = None
    if final:
        added = reporting_world.write_late(world)
        late = (added, _roll_up(LATE_BUDGET_S, f"{added:,} late conversions"))
    _vacuum()
    expect(world.raw_rows == _raw_count(), "the bench counts every raw row")
    grains = {table: _count(table) for table in ROLLUP_TABLES}
    expected = {table: expected_rows(world.shape, world.written_until, table) for table in ROLLUP_TABLES}
    print(
        "reporting: rollup rows (expected): "
        + ", ".join(f"{table} {grains[table]:,} ({expected[table]:,.0f})" for table in ROLLUP_TABLES),
        flush=True,
    )
    hours = []
    for hour, rows in reporting_world.busiest_hours(BUSY_HOURS):
        before = reporting_world.hour_rows(hour)
        rebuilt = rollup.rebuild_hour(hour)
        expect(not rebuilt.skipped, f"{hour} rebuilt")
        after = reporting_world.hour_rows(hour)
        expect(
            before == after,
            f"the bench's fill of {hour} is what rebuild_hour writes: "
            + ", ".join(
                f"{t} {len(before[t])} -> {len(after[t])} rows" for t in after if before[t] != after[t]
            ),
        )
        hours.append((hour, rows, rebuilt.seconds))
    print(
        "reporting: busy hours rebuilt in "
        + ", ".join(f"{seconds * 1000:.0f} ms ({rows:,} raw rows)" for _, rows, seconds in hours),
        flush=True,
    )
    stage = Stage(
        raw_rows=world.raw_rows, counts=dict(world.counts), write_seconds=written.seconds, rollup=everything,
        hours=hours, decisions=world.written_until, grains=grains, expected_grains=expected, late=late,
    )  # fmt: skip
    questions = Questions(world)
    for name in QUESTIONS:
        stage.questions[name] = questions.time(name)
        timing = stage.questions[name]
        print(
            f"reporting: {LABELS[name]}: rollup p50 {timing.rollup_p50 * 1000:.1f} ms, p95 "
            f"{timing.rollup_p95 * 1000:.1f} ms ({timing.rollup_rows:,} rollup rows, "
            f"{timing.expected_rows:,.0f} expected); raw p50 "
            f"{timing.raw_p50 * 1000:.0f} ms ({timing.raw_rows:,} raw rows in range)",
            flush=True,
        )
    stage.pages = questions.pages()
    return stage


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {table.split('_', 1)[1]}" for table, n in counts.items())


def _empty_event_tables() -> None:
    """The bench measures its own events only: whatever an earlier group wrote to the event tables,
    the ledger, the conversions or the rollups (on the throwaway bench database) goes first."""
    tables_ = (
        *reporting_world.RAW_TABLES, "delivery_notice", "delivery_truth", *ROLLUP_TABLES,
        "reporting_reach_hourly", "reporting_reach_daily", "reporting_dirty_hour", "reporting_state",
    )  # fmt: skip
    if any(_count(t) for t in tables_):
        print("reporting: emptying the event tables and rollups an earlier group wrote", flush=True)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables_)}")


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - a constant name
        return int(cursor.fetchone()[0])


def _raw_count() -> int:
    return sum(_count(table) for table in reporting_world.RAW_TABLES)


def _vacuum() -> None:
    """As autovacuum would have by the time anyone reads: statistics, and visibility maps."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"VACUUM (ANALYZE) {', '.join(reporting_world.RAW_TABLES)}, {', '.join(ROLLUP_TABLES)}"
        )
    print(f"reporting: VACUUM ANALYZE in {time.perf_counter() - started:.0f} s", flush=True)


# The questions --------------------------------------------------------------------------------------

# An answer, made comparable: every sum of every row (Totals are frozen dataclasses), and for the
# tables, every row's dimensions and metric values in the order shown.
Answer = dict[Any, Any]


class Questions:
    """The four questions about the measured account, each answered from the rollups by the real
    code and from the raw events by SQL."""

    def __init__(self, world: ReportingWorld) -> None:
        self.world = world
        self.advertiser = world.advertiser
        self.owner = world.owner
        zone = self.advertiser.tz
        self.last_day = (world.end - timedelta(microseconds=1)).astimezone(zone).date()
        self.month = Spec(self.advertiser, self.last_day - timedelta(days=29), self.last_day)
        self.week = Spec(self.advertiser, self.last_day - timedelta(days=6), self.last_day)
        campaign = Campaign.objects.filter(advertiser=self.advertiser).order_by("pk").first()
        if campaign is None:
            raise RuntimeError("the bench did not do what it measures: the measured account has campaigns")
        self.campaign = campaign

    def time(self, name: str) -> Timing:
        rollup_path: Callable[[], Answer] = getattr(self, f"{name}_rollup")
        raw_path: Callable[[], Answer] = getattr(self, f"{name}_raw")
        rollup_answer, raw_answer = rollup_path(), raw_path()  # and warm both
        expect(
            rollup_answer == raw_answer,
            f"{name}: the rollups and the raw events agree: {_diff(rollup_answer, raw_answer)}",
        )
        expect(len(rollup_answer) > 3, f"{name}: the answer has rows")
        specs = getattr(self, f"{name}_specs")()
        return Timing(
            rollup=_times(rollup_path, ROLLUP_RUNS),
            raw=_times(raw_path, RAW_RUNS),
            rollup_rows=sum(_rollup_rows(spec) for spec in specs),
            raw_rows=self._raw_rows(name),
            expected_rows=self.expected_rows(specs, self.world.written_until),
        )

    def expected_rows(self, specs: Iterable[Spec], decisions: float) -> float:
        """The rollup rows the specs read, as reporting_world.expected_rows predicts them."""
        first = self.world.start.date()
        return sum(
            expected_rows(
                self.world.shape, decisions, query.table_for(spec), first_day=(spec.start - first).days,
                last_day=(spec.end - first).days, advertiser=self.advertiser.pk,
                campaign=spec.filters.get("campaign", (None,))[0],
            )
            for spec in specs
        )  # fmt: skip

    # (a) The account overview.

    def overview_specs(self) -> list[Spec]:
        month = self.month
        return [month, month.previous(), month, month, month]  # totals, previous, daily, top 10 and its total

    def overview_rollup(self) -> Answer:
        month = self.month
        answer: Answer = {"current": query.totals(month), "previous": query.totals(month.previous())}
        answer |= {("day", day): totals for day, totals in query.by(month, "day").items()}
        top = tables.build(month.but(dimensions=("campaign",)), sort="spend", limit=10)
        return answer | _table_answer("top", top)

    def overview_raw(self) -> Answer:
        month = self.month
        sums = raw_sums(self.advertiser, month.start - timedelta(days=30), month.end, ("day", "campaign"))
        current: dict[int, Totals] = {}
        previous: dict[int, Totals] = {}
        days: dict[date, Totals] = {}
        for (day, campaign), totals in sums.items():
            if day >= month.start:
                current[campaign] = current.get(campaign, query.ZERO) + totals
                days[day] = days.get(day, query.ZERO) + totals
            else:
                previous[campaign] = previous.get(campaign, query.ZERO) + totals
        answer: Answer = {"current": _sum(current.values()), "previous": _sum(previous.values())}
        answer |= {("day", day): days[day] for day in sorted(days)}
        rows = sorted(current.items())  # as the rollup query orders them, then by spend, stably
        rows.sort(key=lambda row: row[1].metric("spend") or 0, reverse=True)
        return answer | _rows_answer("top", rows[:10], _sum(current.values()))

    # (b) A campaign's page: 7 days, by country.

    def _campaign_week(self) -> Spec:
        return self.week.but(filters={"campaign": (self.campaign.pk,)})

    def campaign_specs(self) -> list[Spec]:
        spec = self._campaign_week()
        return [spec, spec, spec.but(dimensions=("country",)), spec]

    def campaign_rollup(self) -> Answer:
        spec = self._campaign_week()
        answer: Answer = {"total": query.totals(spec)}
        answer |= {("day", day): totals for day, totals in query.by(spec, "day").items()}
        by_country = tables.build(spec.but(dimensions=("country",)), sort="spend")
        return answer | _table_answer("country", by_country)

    def campaign_raw(self) -> Answer:
        spec = self._campaign_week()
        sums = raw_sums(self.advertiser, spec.start, spec.end, ("day", "country"), campaign=self.campaign.pk)
        days: dict[date, Totals] = {}
        countries: dict[str, Totals] = {}
        for (day, country), totals in sums.items():
            days[day] = days.get(day, query.ZERO) + totals
            countries[country] = countries.get(country, query.ZERO) + totals
        total = _sum(days.values())
        answer: Answer = {"total": total} | {("day", day): days[day] for day in sorted(days)}
        rows = sorted(countries.items())
        rows.sort(key=lambda row: row[1].metric("spend") or 0, reverse=True)
        return answer | _rows_answer("country", rows, total)

    # (c) A campaign by hour of day.

    def hour_of_day_specs(self) -> list[Spec]:
        spec = self.month.but(filters={"campaign": (self.campaign.pk,)})
        return [spec.but(dimensions=("hour_of_day",)), spec]

    def hour_of_day_rollup(self) -> Answer:
        spec = self.month.but(dimensions=("hour_of_day",), filters={"campaign": (self.campaign.pk,)})
        return _table_answer("hour", tables.build(spec))

    def hour_of_day_raw(self) -> Answer:
        month = self.month
        sums = raw_sums(self.advertiser, month.start, month.end, ("hour_of_day",), campaign=self.campaign.pk)
        rows = [(hour, totals) for (hour,), totals in sorted(sums.items())]
        return _rows_answer("hour", rows, _sum(sums.values()))

    # (d) A report: day x campaign x country.

    def report_specs(self) -> list[Spec]:
        spec = self.month.but(dimensions=("day", "campaign", "country"))
        return [spec, spec]

    def report_rollup(self) -> Answer:
        return _table_answer("row", tables.build(self.month.but(dimensions=("day", "campaign", "country"))))

    def report_raw(self) -> Answer:
        month = self.month
        sums = raw_sums(self.advertiser, month.start, month.end, ("day", "campaign", "country"))
        return _rows_answer("row", sorted(sums.items()), _sum(sums.values()))

    def _raw_rows(self, name: str) -> int:
        """The raw rows of every advertiser in the question's range of days (decisions, impressions,
        clicks, ledger entries and conversions): what a raw answer sifts its account's rows from."""
        first = self.month.start - timedelta(days=30) if name == "overview" else self.month.start
        if name == "campaign":
            first = self.week.start
        start, end = _utc_bounds(self.advertiser.time_zone, first, self.last_day)
        with connection.cursor() as cursor:
            total = 0
            for table, column in (
                ("delivery_decision", "decided_at"), ("delivery_impression", "at"), ("delivery_click", "at"),
                ("campaigns_ledgerentry", "at"), ("campaigns_conversion", "touch_at"),
            ):  # fmt: skip
                cursor.execute(
                    f"SELECT count(*) FROM {table} WHERE {column} >= %s AND {column} < %s",  # noqa: S608
                    [start, end],
                )
                total += cursor.fetchone()[0]
        return total

    # The pages and the API, through the whole stack -------------------------------------------------

    def pages(self) -> dict[str, list[float]]:
        """Server time of the dashboard pages and the report API, when they exist (else nothing)."""
        storages = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        out = {}
        # As the WSGI entry point does (config/wsgi.py): what is loaded by now stays out of the
        # garbage collector's full collections.
        gc.collect()
        gc.freeze()
        with override_settings(STORAGES=storages):
            client = Client()
            client.force_login(self.owner)
            for name, path in self._page_paths().items():
                if client.get(path).status_code != 200:
                    print(f"reporting: {path} does not answer 200 yet; not measured", flush=True)
                    continue
                out[name] = _times(partial(_get, client, path), PAGE_RUNS)
                print(
                    f"reporting: {name} {path}: p50 {statistics.median(out[name]) * 1000:.1f} ms, p95 "
                    f"{np.percentile(out[name], 95) * 1000:.1f} ms",
                    flush=True,
                )
        return out

    def _page_paths(self) -> dict[str, str]:
        from django.urls import NoReverseMatch, reverse

        month, week = self.month, self.week
        paths = {}
        try:
            overview = reverse("report_overview", kwargs={"advertiser_id": self.advertiser.pk})
            paths["overview page"] = (
                f"{overview}?range=custom&start={month.start}&end={month.end}&compare=previous"
            )
        except NoReverseMatch:
            print("reporting: no report_overview page yet; not measured", flush=True)
        try:
            page = reverse(
                "report_campaign",
                kwargs={"advertiser_id": self.advertiser.pk, "campaign_id": self.campaign.pk},
            )
            paths["campaign page"] = (
                f"{page}?range=custom&start={week.start}&end={week.end}&breakdown=country"
            )
        except NoReverseMatch:
            print("reporting: no report_campaign page yet; not measured", flush=True)
        metrics = ",".join(DEFAULT_METRICS)
        paths["report API"] = (
            f"/api/v1/reports?advertiser={self.advertiser.pk}&start={month.start}&end={month.end}"
            f"&dimensions=day,campaign,country&metrics={metrics}"
        )
        return paths


def _get(client: Client, path: str) -> None:
    response = client.get(path)
    expect(response.status_code == 200, (path, response.status_code))


def _times(work: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        out.append(time.perf_counter() - started)
    return out


def _sum(values: Iterable[Totals]) -> Totals:
    total = query.ZERO
    for totals in values:
        total = total + totals
    return total


def _table_answer(name: str, table: tables.Table) -> Answer:
    """A table's rows in the order shown: the dimensions' values and every metric's exact value."""
    width = table.dimension_count
    answer: Answer = {
        (name, n): (tuple(c.value for c in row[:width]), tuple(c.value for c in row[width:]))
        for n, row in enumerate(table.rows)
    }
    answer[(name, "total")] = tuple(c.value for c in table.total[width:])
    return answer


def _rows_answer(name: str, rows: Sequence[tuple[Any, Totals]], total: Totals) -> Answer:
    """The same shape from raw sums: (key, totals) rows in order, and the total."""
    answer: Answer = {}
    for n, (key, totals) in enumerate(r for r in rows if r[1] != query.ZERO):
        keys = key if isinstance(key, tuple) else (key,)
        answer[(name, n)] = (keys, tuple(totals.metric(m) for m in DEFAULT_METRICS))
    answer[(name, "total")] = tuple(total.metric(m) for m in DEFAULT_METRICS)
    return answer


def _diff(a: Answer, b: Answer) -> str:
    keys = [k for k in {**a, **b} if a.get(k) != b.get(k)]
    return "; ".join(f"{k}: {a.get(k)} != {b.get(k)}" for k in keys[:5]) + f" ({len(keys)} differ)"


def _rollup_rows(spec: Spec) -> int:
    """The rows of the rollup table `query.run` reads for `spec` (the account's, its range of days)."""
    table = query.table_for(spec)
    where = "advertiser_id = %s AND day BETWEEN %s AND %s"
    params: list[Any] = [spec.advertiser.pk, spec.start, spec.end]
    for name, values in spec.filters.items():
        where += f" AND {name}_id = ANY(%s)"
        params.append(list(values))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE {where}", params)  # noqa: S608
        return int(cursor.fetchone()[0])


# The raw answer ---------------------------------------------------------------------------------------

# Each dimension in each branch of the raw union (as rollup.py's _EVENTS takes them): the time of an
# impression or click, a conversion's touch, a ledger entry's own day and time.
_KEYS = {
    "day": {
        "impression": "(i.at AT TIME ZONE %(zone)s)::date", "click": "(k.at AT TIME ZONE %(zone)s)::date",
        "conversion": "(v.touch_at AT TIME ZONE %(zone)s)::date", "ledger": "l.day",
    },
    "hour_of_day": {
        "impression": "extract(hour FROM i.at AT TIME ZONE %(zone)s)::int",
        "click": "extract(hour FROM k.at AT TIME ZONE %(zone)s)::int",
        "conversion": "extract(hour FROM v.touch_at AT TIME ZONE %(zone)s)::int",
        "ledger": "extract(hour FROM l.at AT TIME ZONE %(zone)s)::int",
    },
    "campaign": {"impression": "d.campaign_id", "click": "d.campaign_id", "conversion": "v.campaign_id",
                 "ledger": "l.campaign_id"},
    "country": {"impression": "d.country", "click": "d.country", "conversion": "coalesce(d.country, '')",
                "ledger": "coalesce(d.country, '')"},
}  # fmt: skip


def raw_sums(
    advertiser: Any, first: date, last: date, keys: Sequence[str], *, campaign: int | None = None
) -> dict[tuple[Any, ...], Totals]:
    """The account's sums over its days [first, last] by `keys`, straight from the raw tables: each
    branch grouped first, then the branches summed. Conversions and ledger entries are joined to
    their decisions only when a key needs the decision (the country)."""
    start, end = _utc_bounds(advertiser.time_zone, first, last)
    needs_decision = "country" in keys
    group = ", ".join(str(n + 1) for n in range(len(keys)))

    def columns(branch: str) -> str:
        return ", ".join(_KEYS[key][branch] for key in keys)

    only = "AND d.campaign_id = %(campaign)s" if campaign is not None else ""
    # An event comes at most a day after its decision (the bench's events: seconds); bounding the
    # decisions too lets PostgreSQL skip their other days' partitions.
    decision_range = "d.decided_at >= %(start)s::timestamptz - interval '1 day' AND d.decided_at < %(end)s"
    sql = f"""
        SELECT {", ".join(f"k{n}" for n in range(len(keys)))},
               {", ".join(f"coalesce(sum({m}), 0)::bigint" for m in rollup.MEASURES)}
        FROM (
            SELECT {columns("impression")},
                   count(*) FILTER (WHERE i.ivt_reason = '') AS impressions,
                   count(*) FILTER (WHERE i.ivt_reason <> '') AS invalid_impressions,
                   0 AS clicks, 0 AS invalid_clicks, 0 AS conversions, 0 AS conversion_value_micros,
                   0 AS spend_micros, 0 AS credit_micros
            FROM delivery_impression i
            JOIN delivery_decision d ON d.event_id = i.event_id AND d.decided_at = i.decided_at
            WHERE i.at >= %(start)s AND i.at < %(end)s
              AND i.decided_at >= %(start)s::timestamptz - interval '1 day' AND i.decided_at < %(end)s
              AND {decision_range}
              AND d.advertiser_id = %(advertiser)s AND NOT d.test {only}
            GROUP BY {group}
          UNION ALL
            SELECT {columns("click")}, 0, 0, count(*) FILTER (WHERE k.ivt_reason = ''),
                   count(*) FILTER (WHERE k.ivt_reason <> ''), 0, 0, 0, 0
            FROM delivery_click k
            JOIN delivery_decision d ON d.event_id = k.event_id AND d.decided_at = k.decided_at
            WHERE k.at >= %(start)s AND k.at < %(end)s
              AND k.decided_at >= %(start)s::timestamptz - interval '1 day' AND k.decided_at < %(end)s
              AND {decision_range}
              AND d.advertiser_id = %(advertiser)s AND NOT d.test {only}
            GROUP BY {group}
          UNION ALL
            SELECT {columns("conversion")}, 0, 0, 0, 0, count(*), sum(coalesce(v.value_micros, 0)), 0, 0
            FROM campaigns_conversion v
            {
        "LEFT JOIN delivery_decision d ON d.event_id = v.attributed_event_id "
        "AND d.decided_at = reporting_uuid7_time(v.attributed_event_id)"
        if needs_decision
        else ""
    }
            WHERE v.advertiser_id = %(advertiser)s AND v.touch_at >= %(start)s AND v.touch_at < %(end)s
              AND v.attribution <> 'none' AND NOT v.test {only.replace("d.", "v.")}
            GROUP BY {group}
          UNION ALL
            SELECT {columns("ledger")}, 0, 0, 0, 0, 0, 0,
                   sum(l.amount_micros) FILTER (WHERE l.kind = 'charge'),
                   sum(l.amount_micros) FILTER (WHERE l.kind = 'credit')
            FROM campaigns_ledgerentry l
            {
        "LEFT JOIN delivery_decision d ON l.kind = 'charge' AND d.event_id = l.event_id "
        "AND d.decided_at = l.decided_at"
        if needs_decision
        else ""
    }
            WHERE l.advertiser_id = %(advertiser)s AND l.day BETWEEN %(first)s AND %(last)s
              {only.replace("d.", "l.")}
            GROUP BY {group}
        ) AS parts ({", ".join(f"k{n}" for n in range(len(keys)))}, {", ".join(rollup.MEASURES)})
        GROUP BY {group}
    """  # noqa: S608 - built from constants only
    params = {
        "zone": advertiser.time_zone, "start": start, "end": end, "first": first, "last": last,
        "advertiser": advertiser.pk, "campaign": campaign,
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        records = cursor.fetchall()
    width = len(keys)
    out = {tuple(r[:width]): Totals(*(int(v) for v in r[width:])) for r in records}
    return {key: totals for key, totals in out.items() if totals != query.ZERO}


def _utc_bounds(zone_name: str, first: date, last: date) -> tuple[datetime, datetime]:
    import zoneinfo

    zone = zoneinfo.ZoneInfo(zone_name)
    return (
        datetime.combine(first, clock.min, zone),
        datetime.combine(last + timedelta(days=1), clock.min, zone),
    )


# The figures ------------------------------------------------------------------------------------------


def _figures(world: ReportingWorld, small: Stage, large: Stage) -> list[Figure]:
    figures = [
        Figure(
            "reporting: raw events written",
            (small.write_seconds + large.write_seconds),
            "s",
            note=f"{large.raw_rows:,} raw rows: {_describe(large.counts)}, over {reporting_world.SPAN_DAYS} "
            f"days; set-based SQL, in two steps ({small.raw_rows:,} rows, then the rest)",
        ),
        Figure(
            "reporting: roll_up of every hour",
            large.rollup.total,
            "s",
            note=f"{large.raw_rows:,} raw rows: {large.rollup.describe()}; at {small.raw_rows:,} raw rows: "
            f"{small.rollup.describe()}",
        ),
    ]
    hour_seconds = [seconds for _, _, seconds in large.hours]
    rows = [rows for _, rows, _ in large.hours]
    figures += [
        Figure(
            "reporting: rebuild of a busy hour, p50",
            statistics.median(hour_seconds),
            "s",
            target=HOUR_TARGET_S,
            note=f"the {BUSY_HOURS} busiest hours ({min(rows):,}-{max(rows):,} raw rows each): "
            + ", ".join(f"{s * 1000:.0f} ms" for s in hour_seconds),
        ),
        Figure("reporting: rebuild of a busy hour, max", max(hour_seconds), "s", target=HOUR_TARGET_S),
    ]
    if large.late is not None:
        added, run = large.late
        figures.append(
            Figure(
                "reporting: late conversions rolled up",
                run.total,
                "s",
                note=f"{added:,} conversions reported a day or more after the rollup: {run.describe()}",
            )
        )
    for table in ROLLUP_TABLES:
        share = large.grains[table] / large.raw_rows
        figures.append(
            Figure(
                f"reporting: {table} rows / raw rows",
                share,
                "share",
                target=MAX_SHARE,
                note=f"1/{1 / share:.1f}: {large.grains[table]:,} rows for {large.raw_rows:,} raw rows; at "
                f"{small.raw_rows:,}: 1/{small.raw_rows / small.grains[table]:.1f}",
            )
        )
    for name in QUESTIONS:
        timing = large.questions[name]
        figures += [
            Figure(
                f"reporting: {name} p95 (query)",
                timing.rollup_p95 * 1000,
                "ms",
                baseline=timing.raw_p95 * 1000,
                target=TARGET_MS,
                note=f"{LABELS[name]}: rollup p50 {timing.rollup_p50 * 1000:.1f} ms over {ROLLUP_RUNS} runs, "
                f"{timing.rollup_rows:,} rollup rows read; raw p50 {timing.raw_p50 * 1000:.0f} ms over "
                f"{RAW_RUNS} runs, {timing.raw_rows:,} raw rows in the range",
            ),
            Figure(
                f"reporting: {name} raw / rollup (p50)",
                timing.raw_p50 / timing.rollup_p50,
                "x",
                minimum=MIN_SPEEDUP,
            ),
        ]
    for name, times in large.pages.items():
        raw = large.questions[PAGE_QUESTIONS[name]]
        figures += [
            Figure(
                f"reporting: {name} p95 (server)",
                float(np.percentile(times, 95)) * 1000,
                "ms",
                baseline=raw.raw_p95 * 1000,
                target=TARGET_MS,
                note=f"p50 {statistics.median(times) * 1000:.1f} ms over {PAGE_RUNS} runs, as the account's "
                f"admin; baseline: its question ({LABELS[PAGE_QUESTIONS[name]]}) from the raw events",
            ),
            Figure(
                f"reporting: {name} raw / server (p50)",
                raw.raw_p50 / statistics.median(times),
                "x",
                minimum=MIN_SPEEDUP,
                note="the same question from the raw events"
                if name == "report API"
                else "the raw side answers only the question; the page shows more (comparisons, charts)",
            ),
        ]
    return figures + _projections(world, small, large)


def _projections(world: ReportingWorld, small: Stage, large: Stage) -> list[Figure]:
    """At PROJECTED_EVENTS: rollup rows as the Poisson model expects them (scaled by how far the
    model was from the count at the larger size), times linear in those rows, raw times linear in
    the raw rows, a busy hour's rebuild linear in its raw rows."""
    e1, e2, e3 = small.raw_rows, large.raw_rows, PROJECTED_EVENTS
    decisions = large.decisions * e3 / e2
    at = f"{e3 / 1e6:.0f}M"
    figures = []
    for table in ROLLUP_TABLES:
        model = expected_rows(world.shape, decisions, table)
        rows = model * large.grains[table] / large.expected_grains[table]
        figures.append(
            Figure(
                f"reporting: {table} rows / raw rows at {at} (projected)",
                rows / e3,
                "share",
                target=MAX_SHARE,
                note=f"1/{e3 / rows:.1f}: ~{rows:,.0f} rows (the model: {model:,.0f}; at {e2:,} raw rows it "
                f"expected {large.expected_grains[table]:,.0f} and there were {large.grains[table]:,})",
            )
        )
    questions = Questions(world)
    for name in QUESTIONS:
        s, g = small.questions[name], large.questions[name]
        model = questions.expected_rows(getattr(questions, f"{name}_specs")(), decisions)
        rows = model * g.rollup_rows / g.expected_rows
        rollup_p95 = _linear(s.rollup_rows, s.rollup_p95, g.rollup_rows, g.rollup_p95, rows)
        rollup_p50 = _linear(s.rollup_rows, s.rollup_p50, g.rollup_rows, g.rollup_p50, rows)
        raw_p50 = _linear(e1, s.raw_p50, e2, g.raw_p50, e3)
        figures += [
            Figure(
                f"reporting: {name} p95 at {at} (projected)",
                rollup_p95 * 1000,
                "ms",
                baseline=raw_p50 * 1000,
                target=TARGET_MS,
                note=f"rollup rows read {s.rollup_rows:,} -> {g.rollup_rows:,} -> ~{rows:,.0f}; p95 "
                f"{s.rollup_p95 * 1000:.1f} -> {g.rollup_p95 * 1000:.1f} ms; raw p50 "
                f"{s.raw_p50 * 1000:.0f} -> {g.raw_p50 * 1000:.0f} ms -> ~{raw_p50 * 1000:,.0f} ms "
                "(the baseline)",
            ),
            Figure(
                f"reporting: {name} raw / rollup at {at} (projected)",
                raw_p50 / rollup_p50,
                "x",
                minimum=MIN_SPEEDUP,
            ),
        ]
        for page, times in large.pages.items():
            if PAGE_QUESTIONS[page] != name or page not in small.pages:
                continue
            p95 = float(np.percentile(times, 95))
            figures.append(
                Figure(
                    f"reporting: {page} p95 at {at} (projected)",
                    (p95 + max(rollup_p95 - g.rollup_p95, 0.0)) * 1000,
                    "ms",
                    target=TARGET_MS,
                    note=f"the page's p95 at {e2:,} raw rows plus its question's projected growth",
                )
            )
    hour_rows = [statistics.median(rows for _, rows, _ in stage.hours) for stage in (small, large)]
    hour_seconds = [statistics.median(seconds for _, _, seconds in stage.hours) for stage in (small, large)]
    busiest = hour_rows[1] * e3 / e2
    figures.append(
        Figure(
            f"reporting: rebuild of a busy hour at {at} (projected)",
            _linear(hour_rows[0], hour_seconds[0], hour_rows[1], hour_seconds[1], busiest),
            "s",
            target=HOUR_TARGET_S,
            note=f"linear in the hour's raw rows (medians of the {BUSY_HOURS} busiest): "
            f"{hour_rows[0]:,.0f} rows {hour_seconds[0] * 1000:.0f} ms, {hour_rows[1]:,.0f} rows "
            f"{hour_seconds[1] * 1000:.0f} ms -> ~{busiest:,.0f} rows",
        )
    )
    return figures


def _linear(x1: float, y1: float, x2: float, y2: float, x3: float) -> float:
    """y at x3 on the line through the two points; when noise makes it fall, y proportional to x
    from the larger point (the pessimistic reading)."""
    if x2 == x1 or y2 <= y1:
        return y2 * x3 / x2 if x2 else y2
    return y2 + (y2 - y1) / (x2 - x1) * (x3 - x2)
