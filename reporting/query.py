"""Asking the rollups a question: one advertiser, a range of its days, some dimensions, filters.

Every reader (the dashboards, exports, the report API, scheduled reports, the Ads Manager's list)
goes through `run()`. It picks the smallest rollup that can answer (reporting.models) and sums it in
one grouped query; derived figures (CTR, CPC, CPM, CVR, CPA, ROAS) come from the sums, in `Totals`.

Days are the advertiser's, unless the report asks for another time zone: then days and hours are
cut from the UTC hours, which is exact for zones a whole number of hours from UTC in the range, and
refused (naming `time_zone`) for the others.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pycountry
from django.db import connection

from accounts.models import Advertiser
from reporting.rollup import MEASURES

# Dimensions a report can group by, in the order their columns are shown.
TIME_DIMENSIONS = ("month", "week", "day", "hour", "hour_of_day")
ENTITY_DIMENSIONS = ("campaign", "ad_group", "creative")
FINE_DIMENSIONS = ("placement", "country", "device")  # only the finest and the daily grains have these
DIMENSIONS = TIME_DIMENSIONS + ENTITY_DIMENSIONS + FINE_DIMENSIONS
FILTERS = ENTITY_DIMENSIONS + FINE_DIMENSIONS
# Figures a report can show: the sums, then what is derived from them.
METRICS = (
    "spend",
    "impressions",
    "clicks",
    "ctr",
    "cpc",
    "cpm",
    "conversions",
    "cvr",
    "cpa",
    "conversion_value",
    "roas",
    "invalid_impressions",
    "invalid_clicks",
)
MONEY_METRICS = frozenset({"spend", "cpc", "cpm", "cpa", "conversion_value"})
RATIO_METRICS = frozenset({"ctr", "cvr", "roas"})
METRIC_LABELS = {
    "spend": "Spend",
    "impressions": "Impressions",
    "clicks": "Clicks",
    "ctr": "CTR",
    "cpc": "CPC",
    "cpm": "CPM",
    "conversions": "Conversions",
    "cvr": "CVR",
    "cpa": "CPA",
    "conversion_value": "Conversion value",
    "roas": "ROAS",
    "invalid_impressions": "Invalid impressions",
    "invalid_clicks": "Invalid clicks",
}
DIMENSION_LABELS = {
    "month": "Month",
    "week": "Week",
    "day": "Day",
    "hour": "Hour",
    "hour_of_day": "Hour of day",
    "campaign": "Campaign",
    "ad_group": "Ad group",
    "creative": "Creative",
    "placement": "Placement",
    "country": "Country",
    "device": "Device type",
}
# The rollup column of each dimension a report can group or filter by (reporting.models).
COLUMNS = {
    "campaign": "campaign_id",
    "ad_group": "ad_group_id",
    "creative": "creative_id",
    "placement": "placement_id",
    "country": "country",
    "device": "device_type",
}
_ID_DIMENSIONS = frozenset({"campaign", "ad_group", "creative", "placement"})


class ReportError(ValueError):
    """A question the rollups cannot answer as asked; `field` names the parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Totals:
    """The sums of a report row, and the figures derived from them. Money is integer micros of the
    account currency; a rate with nothing to divide by is None (shown as a dash), never 0."""

    impressions: int = 0
    invalid_impressions: int = 0
    clicks: int = 0
    invalid_clicks: int = 0
    conversions: int = 0
    conversion_value_micros: int = 0
    spend_micros: int = 0  # charged
    credit_micros: int = 0  # credited back

    @property
    def net_spend_micros(self) -> int:
        return self.spend_micros - self.credit_micros

    @property
    def ctr(self) -> float | None:
        return self.clicks / self.impressions if self.impressions else None

    @property
    def cvr(self) -> float | None:
        return self.conversions / self.clicks if self.clicks else None

    @property
    def cpc_micros(self) -> int | None:
        return self.net_spend_micros // self.clicks if self.clicks else None

    @property
    def cpm_micros(self) -> int | None:
        return self.net_spend_micros * 1000 // self.impressions if self.impressions else None

    @property
    def cpa_micros(self) -> int | None:
        return self.net_spend_micros // self.conversions if self.conversions else None

    @property
    def roas(self) -> float | None:
        return self.conversion_value_micros / self.net_spend_micros if self.net_spend_micros > 0 else None

    def metric(self, name: str) -> int | float | None:
        """A figure by its name in METRICS: money in micros, rates as fractions."""
        return getattr(self, _ATTRIBUTES.get(name, name))

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


ZERO = Totals()
# The attribute of Totals that holds each metric, where the names differ.
_ATTRIBUTES = {
    "spend": "net_spend_micros",
    "cpc": "cpc_micros",
    "cpm": "cpm_micros",
    "cpa": "cpa_micros",
    "conversion_value": "conversion_value_micros",
}


@dataclass(frozen=True, slots=True)
class Row:
    key: tuple[Any, ...]  # the dimensions' values, in the report's order of dimensions
    totals: Totals


@dataclass(frozen=True)
class Spec:
    """A question: `start` and `end` are days (both included) in `time_zone` (the account's when
    empty); `filters` maps a dimension of FILTERS to the values kept."""

    advertiser: Advertiser
    start: date
    end: date
    dimensions: tuple[str, ...] = ()
    filters: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    time_zone: str = ""

    def __post_init__(self) -> None:
        for name in self.dimensions:
            if name not in DIMENSIONS:
                raise ReportError("dimensions", f"Unknown dimension {name!r}: use {', '.join(DIMENSIONS)}.")
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ReportError("dimensions", "A dimension is named twice.")
        for name in self.filters:
            if name not in FILTERS:
                raise ReportError("filters", f"Cannot filter on {name!r}: use {', '.join(FILTERS)}.")
        if self.start > self.end:
            raise ReportError("start", "The range starts after it ends.")
        if self.time_zone:
            try:
                zoneinfo.ZoneInfo(self.time_zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ReportError(
                    "time_zone", f"Unknown time zone {self.time_zone!r}: use an IANA name."
                ) from None

    @property
    def zone_name(self) -> str:
        return self.time_zone or self.advertiser.time_zone

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.zone_name)

    @property
    def own_days(self) -> bool:
        """Whether the rollups' own `day` (the account's) answers the question."""
        return self.zone_name == self.advertiser.time_zone

    def previous(self) -> Spec:
        """The period of the same length just before this one (for "change against")."""
        length = self.end - self.start + timedelta(days=1)
        return Spec(
            self.advertiser,
            self.start - length,
            self.start - timedelta(days=1),
            self.dimensions,
            self.filters,
            self.time_zone,
        )

    def but(self, **changes: Any) -> Spec:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Spec(**values)


def table_for(spec: Spec) -> str:
    """The smallest rollup that holds every dimension and filter the question names."""
    names = set(spec.dimensions) | set(spec.filters)
    fine = bool(names & set(FINE_DIMENSIONS))
    hourly = bool(names & {"hour", "hour_of_day"}) or not spec.own_days
    if not fine:
        return "reporting_creative_hourly" if hourly else "reporting_creative_daily"
    return "reporting_hourly" if hourly else "reporting_daily"


def _check_zone(spec: Spec) -> None:
    if spec.own_days:
        return
    zone = spec.zone
    at = datetime.combine(spec.start - timedelta(days=1), time(12), UTC)
    end = datetime.combine(spec.end + timedelta(days=2), time(12), UTC)
    while at <= end:  # offsets change at most a few times a year; every 6 hours catches them
        offset = at.astimezone(zone).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            raise ReportError(
                "time_zone",
                f"{spec.zone_name} is not a whole number of hours from UTC in this range; reports "
                "are rolled up by the UTC hour, so ask in the account's time zone "
                f"({spec.advertiser.time_zone}).",
            )
        at += timedelta(hours=6)


def _bounds(spec: Spec) -> tuple[datetime, datetime]:
    """The UTC instants of the range's first day's start and last day's end in the spec's zone."""
    zone = spec.zone
    try:
        start = datetime.combine(spec.start, time.min, zone).astimezone(UTC)
        end = datetime.combine(spec.end + timedelta(days=1), time.min, zone).astimezone(UTC)
    except OverflowError:
        raise ReportError("start", "The range is outside the years a report can cover.") from None
    return start, end


def _select(spec: Spec, table: str) -> tuple[list[str], list[Any], str, list[Any]]:
    """The SELECT's dimension expressions and their parameters, its WHERE and its parameters."""
    hourly = table in ("reporting_hourly", "reporting_creative_hourly")
    local_hour = "(hour AT TIME ZONE %s)"
    day = "day" if spec.own_days else f"{local_hour}::date"
    expressions: list[str] = []
    dim_params: list[Any] = []
    for name in spec.dimensions:
        if name == "day":
            expressions.append(day)
        elif name == "week":
            expressions.append(f"date_trunc('week', {day})::date")
        elif name == "month":
            expressions.append(f"date_trunc('month', {day})::date")
        elif name == "hour":
            expressions.append("hour")
        elif name == "hour_of_day":
            expressions.append(f"extract(hour FROM {local_hour})::int")
        else:
            expressions.append(COLUMNS[name])
        dim_params += [spec.zone_name] * expressions[-1].count("%s")
    where = ["advertiser_id = %s"]
    params: list[Any] = [spec.advertiser.pk]
    if spec.own_days or not hourly:
        where.append("day BETWEEN %s AND %s")
        params += [spec.start, spec.end]
    else:
        start, end = _bounds(spec)
        # The account's days bound the index scan: the asked zone's days are within a day of them.
        where += ["day BETWEEN %s AND %s", "hour >= %s AND hour < %s"]
        params += [spec.start - timedelta(days=1), spec.end + timedelta(days=1), start, end]
    for name, values in spec.filters.items():
        where.append(f"{COLUMNS[name]} = ANY(%s)")
        params.append(list(values))
    return expressions, dim_params, " AND ".join(where), params


def run(spec: Spec) -> list[Row]:
    """The report's rows, one per combination of its dimensions' values that has any figure, in the
    dimensions' order. Without dimensions: one row, the totals (ZERO when nothing happened)."""
    _check_zone(spec)
    table = table_for(spec)
    expressions, dim_params, where, where_params = _select(spec, table)
    sums = ", ".join(f"coalesce(sum({m}), 0)::bigint" for m in MEASURES)
    columns = ", ".join([*expressions, sums])
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(expressions)))}" if expressions else ""
    order = f" ORDER BY {', '.join(str(i + 1) for i in range(len(expressions)))}" if expressions else ""
    sql = f"SELECT {columns} FROM {table} WHERE {where}{group}{order}"  # noqa: S608 - names from constants
    with connection.cursor() as cursor:
        cursor.execute(sql, dim_params + where_params)
        records = cursor.fetchall()
    width = len(expressions)
    rows = [Row(tuple(record[:width]), Totals(*(int(v) for v in record[width:]))) for record in records]
    if not expressions:
        return rows or [Row((), ZERO)]
    if "hour" in spec.dimensions:
        position = spec.dimensions.index("hour")
        zone = spec.zone
        rows = [
            Row(
                (*row.key[:position], row.key[position].astimezone(zone), *row.key[position + 1 :]),
                row.totals,
            )
            for row in rows
        ]
    return [row for row in rows if row.totals != ZERO]


def check(spec: Spec) -> None:
    """Raise the ReportError run() would, without running it (the report API decides how to answer,
    inline or as a job, before it runs anything)."""
    _check_zone(spec)


def totals(spec: Spec) -> Totals:
    """The range's totals (the spec's dimensions are ignored)."""
    return run(spec.but(dimensions=()))[0].totals


def by(spec: Spec, *dimensions: str) -> dict[Any, Totals]:
    """Totals keyed by one dimension's value (or a tuple of several)."""
    rows = run(spec.but(dimensions=dimensions))
    return {(row.key[0] if len(dimensions) == 1 else row.key): row.totals for row in rows}


# Labels -------------------------------------------------------------------------------------------

DEVICE_LABELS = {
    "desktop": "Desktop",
    "mobile": "Mobile",
    "tablet": "Tablet",
    "ctv": "Connected TV",
    "": "Unknown",
}


def labels(advertiser: Advertiser, dimension: str, values: Iterable[Any]) -> dict[Any, str]:
    """How to show each value of a dimension: names for ids (of this advertiser's objects only),
    country names, device names, local times."""
    values = list(values)
    if dimension in _ID_DIMENSIONS:
        from campaigns.models import AdGroup, Campaign, Creative
        from delivery.models import Placement

        ids = [v for v in values if v]
        if dimension == "campaign":
            names = dict(Campaign.objects.filter(advertiser=advertiser, pk__in=ids).values_list("pk", "name"))
        elif dimension == "ad_group":
            names = dict(
                AdGroup.objects.filter(campaign__advertiser=advertiser, pk__in=ids).values_list("pk", "name")
            )
        elif dimension == "creative":
            names = dict(
                Creative.objects.filter(ad_group__campaign__advertiser=advertiser, pk__in=ids).values_list(
                    "pk", "name"
                )
            )
        else:
            names = dict(Placement.objects.filter(pk__in=ids).values_list("pk", "name"))
        none = "Not by " + DIMENSION_LABELS[dimension].lower()  # credits, or what the raw event lacked
        return {v: names.get(v, f"Deleted ({v})") if v else none for v in values}
    if dimension == "country":
        return {v: _country_name(v) for v in values}
    if dimension == "device":
        return {v: DEVICE_LABELS.get(v, v) for v in values}
    if dimension == "hour_of_day":
        return {v: f"{v:02d}:00" for v in values}
    if dimension == "hour":
        return {v: f"{v:%Y-%m-%d %H:%M}" for v in values}
    if dimension == "week":
        return {v: f"Week of {v:%Y-%m-%d}" for v in values}
    if dimension == "month":
        return {v: f"{v:%B %Y}" for v in values}
    return {v: f"{v:%Y-%m-%d}" if isinstance(v, date) else str(v) for v in values}


def _country_name(code: str) -> str:
    if not code:
        return "Unknown"
    country = pycountry.countries.get(alpha_2=code)
    return country.name if country else code


def metric_columns(names: Sequence[str]) -> list[str]:
    for name in names:
        if name not in METRICS:
            raise ReportError("metrics", f"Unknown metric {name!r}: use {', '.join(METRICS)}.")
    return list(names)
