"""Rolling raw events up into the reporting tables, one UTC hour at a time (see reporting.models).

An hour's rollup replaces, in one transaction, the hour's rows of the finest grain with sums of the
raw events (impressions, clicks, the ledger and the conversions that happened in it), then the hour's
rows of the creative-hour grain and its reach sketches, and the (advertiser day, campaign) rows of the
daily grains that the hour touches.
Run twice, it writes the same rows: it is how late events get counted. Rollups run one at a time
(an advisory lock), so two never build a day from each other's half-finished hours.

Which hours to roll up comes from `reporting_dirty_hour`, which triggers on the raw tables fill
whoever writes them. `roll_up()` (the Celery task, every minute) takes the newest hours first.

An hour whose raw events are past retention (delivery.models.events.retention_days) is never rebuilt:
its raw rows are gone, and rebuilding it would erase what the rollups kept.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from delivery.models.events import retention_days
from reporting import reach

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
_LOCK = 0x616477726974_0008  # serialises rollups (an arbitrary, fixed key)
MEASURES = (
    "impressions",
    "invalid_impressions",
    "clicks",
    "invalid_clicks",
    "conversions",
    "conversion_value_micros",
    "spend_micros",
    "credit_micros",
)
_SUMS = ", ".join(f"sum({m})" for m in MEASURES)
_MEASURE_COLUMNS = ", ".join(MEASURES)

# (decided_at bounds only prune partitions: an event is never before its decision; a day of slack
# covers clocks that disagree by a little.)
# Every event of the hour as one row of (dimensions, measures); the INSERT below sums them. An
# impression or a click takes its dimensions from its decision; a charge from its decision too
# (the ledger's event id is the decision's), or from the ledger's own ids if the decision is gone;
# a conversion from the decision it is credited to, found by the time inside its UUIDv7 id.
_EVENTS = """
    SELECT (i.at AT TIME ZONE a.time_zone)::date AS day, d.advertiser_id, d.campaign_id,
           d.ad_group_id, d.creative_id, coalesce(d.placement_id, 0) AS placement_id, d.country,
           d.device_type,
           (i.ivt_reason = '')::int AS impressions, (i.ivt_reason <> '')::int AS invalid_impressions,
           0 AS clicks, 0 AS invalid_clicks, 0 AS conversions, 0::bigint AS conversion_value_micros,
           0::bigint AS spend_micros, 0::bigint AS credit_micros
    FROM delivery_impression i
    JOIN delivery_decision d ON d.event_id = i.event_id AND d.decided_at = i.decided_at
    JOIN accounts_advertiser a ON a.id = d.advertiser_id
    WHERE i.at >= %(start)s AND i.at < %(end)s AND i.decided_at < %(end)s::timestamptz + interval '1 day'
      AND NOT d.test
  UNION ALL
    SELECT (c.at AT TIME ZONE a.time_zone)::date, d.advertiser_id, d.campaign_id, d.ad_group_id,
           d.creative_id, coalesce(d.placement_id, 0), d.country, d.device_type,
           0, 0, (c.ivt_reason = '')::int, (c.ivt_reason <> '')::int, 0, 0, 0, 0
    FROM delivery_click c
    JOIN delivery_decision d ON d.event_id = c.event_id AND d.decided_at = c.decided_at
    JOIN accounts_advertiser a ON a.id = d.advertiser_id
    WHERE c.at >= %(start)s AND c.at < %(end)s AND c.decided_at < %(end)s::timestamptz + interval '1 day'
      AND NOT d.test
  UNION ALL
    SELECT v.touch_day, v.advertiser_id, v.campaign_id, coalesce(v.ad_group_id, 0),
           coalesce(v.creative_id, 0), coalesce(d.placement_id, 0), coalesce(d.country, ''),
           coalesce(d.device_type, ''), 0, 0, 0, 0, 1, coalesce(v.value_micros, 0), 0, 0
    FROM (
        SELECT (c.touch_at AT TIME ZONE a.time_zone)::date AS touch_day, c.*
        FROM campaigns_conversion c JOIN accounts_advertiser a ON a.id = c.advertiser_id
        WHERE c.touch_at >= %(start)s AND c.touch_at < %(end)s
          AND c.attribution <> 'none' AND NOT c.test
    ) v
    LEFT JOIN delivery_decision d
      ON d.event_id = v.attributed_event_id AND d.decided_at = reporting_uuid7_time(v.attributed_event_id)
  UNION ALL
    SELECT l.day, l.advertiser_id, l.campaign_id, coalesce(l.ad_group_id, 0),
           coalesce(l.creative_id, 0), coalesce(d.placement_id, 0), coalesce(d.country, ''),
           coalesce(d.device_type, ''), 0, 0, 0, 0, 0, 0,
           CASE WHEN l.kind = 'charge' THEN l.amount_micros ELSE 0 END,
           CASE WHEN l.kind = 'credit' THEN l.amount_micros ELSE 0 END
    FROM campaigns_ledgerentry l
    LEFT JOIN delivery_decision d
      ON l.kind = 'charge' AND d.event_id = l.event_id AND d.decided_at = l.decided_at
    WHERE l.at >= %(start)s AND l.at < %(end)s
"""

_HOURLY_KEY = "day, advertiser_id, campaign_id, ad_group_id, creative_id, placement_id, country, device_type"
_CREATIVE_KEY = "day, advertiser_id, campaign_id, ad_group_id, creative_id"

_REBUILD_HOURLY = f"""
    INSERT INTO reporting_hourly (hour, {_HOURLY_KEY}, {_MEASURE_COLUMNS})
    SELECT %(start)s, {_HOURLY_KEY}, {_SUMS}
    FROM ({_EVENTS}) events
    GROUP BY {_HOURLY_KEY}
"""  # noqa: S608 - built from constants only

_REBUILD_CREATIVE = f"""
    INSERT INTO reporting_creative_hourly (hour, {_CREATIVE_KEY}, {_MEASURE_COLUMNS})
    SELECT hour, {_CREATIVE_KEY}, {_SUMS}
    FROM reporting_hourly WHERE hour = %(start)s
    GROUP BY hour, {_CREATIVE_KEY}
"""  # noqa: S608

# The (advertiser day, campaign) pairs an hour touches, before and after its rebuild: their rows of
# the daily grain are summed again from the finest grain.
_REBUILD_DAILY = f"""
    INSERT INTO reporting_daily ({_HOURLY_KEY}, {_MEASURE_COLUMNS})
    SELECT {_HOURLY_KEY}, {_SUMS}
    FROM reporting_hourly h
    JOIN unnest(%(days)s::date[], %(campaigns)s::bigint[]) AS touched(day, campaign_id)
      USING (day, campaign_id)
    GROUP BY {_HOURLY_KEY}
"""  # noqa: S608


# The daily grains are kept by adding each rebuilt hour's change to them, not by summing their days
# again from the finest grain: an hour's rebuild then costs its own rows, however many the day has.
_DELTA_TABLE = f"""
    CREATE TEMP TABLE IF NOT EXISTS reporting_delta (
        day date, advertiser_id bigint, campaign_id bigint, ad_group_id bigint, creative_id bigint,
        placement_id bigint, country text, device_type text,
        {", ".join(f"{m} bigint" for m in MEASURES)}
    ) ON COMMIT DELETE ROWS
"""
_OLD_INTO_DELTA = f"""
    WITH old AS (DELETE FROM reporting_hourly WHERE hour = %(start)s RETURNING *)
    INSERT INTO reporting_delta ({_HOURLY_KEY}, {_MEASURE_COLUMNS})
    SELECT {_HOURLY_KEY}, {", ".join(f"-{m}" for m in MEASURES)} FROM old
"""  # noqa: S608
_NEW_INTO_DELTA = f"""
    INSERT INTO reporting_delta ({_HOURLY_KEY}, {_MEASURE_COLUMNS})
    SELECT {_HOURLY_KEY}, {_MEASURE_COLUMNS} FROM reporting_hourly WHERE hour = %(start)s
"""  # noqa: S608


def _daily_statements(table: str, key: str) -> tuple[str, str]:
    """Adding the hour's change to a daily grain; then deleting the combinations it touched whose
    figures all went back to zero (their events moved to another day, say)."""
    # Built from the constant names above only (hence the noqa).
    columns = [column.strip() for column in key.split(",")]
    add = (
        f"INSERT INTO {table} ({key}, {_MEASURE_COLUMNS}) "  # noqa: S608
        f"SELECT {key}, {_SUMS} FROM reporting_delta GROUP BY {key} "
        f"HAVING {' OR '.join(f'sum({m}) <> 0' for m in MEASURES)} "
        f"ON CONFLICT ({key}) DO UPDATE SET "
        + ", ".join(f"{m} = {table}.{m} + EXCLUDED.{m}" for m in MEASURES)
    )
    drop = (
        f"DELETE FROM {table} r USING (SELECT DISTINCT {key} FROM reporting_delta) changed WHERE "  # noqa: S608
        + " AND ".join([*(f"r.{c} = changed.{c}" for c in columns), *(f"r.{m} = 0" for m in MEASURES)])
    )
    return add, drop


_DAILY_STATEMENTS = (
    _daily_statements("reporting_daily", _HOURLY_KEY),
    _daily_statements("reporting_creative_daily", _CREATIVE_KEY),
)

# Summing the daily grains again for given (day, campaign) pairs: a repair, and the bench's
# fill of 60 days at once. An hour's rebuild keeps them by its change instead (_ADD_DELTA).
_REBUILD_CREATIVE_DAILY = f"""
    INSERT INTO reporting_creative_daily ({_CREATIVE_KEY}, {_MEASURE_COLUMNS})
    SELECT {_CREATIVE_KEY}, {_SUMS}
    FROM reporting_creative_hourly h
    JOIN unnest(%(days)s::date[], %(campaigns)s::bigint[]) AS touched(day, campaign_id)
      USING (day, campaign_id)
    GROUP BY {_CREATIVE_KEY}
"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class HourResult:
    hour: datetime
    rows: int  # rows of the finest grain written
    seconds: float
    skipped: str = ""  # why it was not rebuilt (past retention)


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def frozen_before(now: datetime | None = None) -> datetime:
    """Hours before this one are never rebuilt: their raw events are, or may partly be, dropped
    (a click's decision can be a day older than the click)."""
    today = (now or timezone.now()).astimezone(UTC).date()
    first_kept = today - timedelta(days=retention_days() - 1)
    return datetime(first_kept.year, first_kept.month, first_kept.day, tzinfo=UTC)


def rebuild_hour(hour: datetime, *, now: datetime | None = None) -> HourResult:
    """Roll up one UTC hour again, from the raw events: idempotent. Deletes the hour's marks that
    were there when the rebuild began (one committed meanwhile stays, for the next run)."""
    start = floor_hour(hour)
    if start < frozen_before(now):
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM reporting_dirty_hour WHERE hour = %s", [start])
        return HourResult(start, 0, 0.0, skipped="past retention: the rollups are kept as they are")
    began = time.perf_counter()
    params = {"start": start, "end": start + HOUR}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        # Each of an hour's events finds its decision by primary key, in its own day's partition.
        # Left to itself the planner hashes every decision ever kept to join a few thousand.
        cursor.execute("SET LOCAL enable_hashjoin = off")
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute("SELECT id FROM reporting_dirty_hour WHERE hour = %s", [start])
        marks = [row[0] for row in cursor.fetchall()]
        # The hour's change, as (its new rows) - (its old rows): what the daily grains add.
        cursor.execute(_DELTA_TABLE)
        cursor.execute("DELETE FROM reporting_delta")  # left over if a caller's transaction is still open
        cursor.execute(_OLD_INTO_DELTA, params)
        cursor.execute(_REBUILD_HOURLY, params)
        rows = cursor.rowcount
        cursor.execute(_NEW_INTO_DELTA, params)
        cursor.execute("SELECT DISTINCT day, campaign_id FROM reporting_delta")
        touched = set(cursor.fetchall())
        cursor.execute("DELETE FROM reporting_creative_hourly WHERE hour = %(start)s", params)
        cursor.execute(_REBUILD_CREATIVE, params)
        reach.rebuild_hour(cursor, start, touched)
        for add, drop in _DAILY_STATEMENTS:
            cursor.execute(add)
            cursor.execute(drop)
        if marks:
            cursor.execute("DELETE FROM reporting_dirty_hour WHERE id = ANY(%s)", [marks])
    return HourResult(start, rows, time.perf_counter() - began)


@dataclass(slots=True)
class RunResult:
    hours: list[HourResult] = field(default_factory=list)
    pending: int = 0  # dirty hours left for the next run

    @property
    def rows(self) -> int:
        return sum(h.rows for h in self.hours)


def roll_up(*, budget_seconds: float = 50.0, now: datetime | None = None) -> RunResult:
    """Rebuild the dirty hours, newest first, for at most about `budget_seconds`; then move the
    watermark if nothing marked before this run began is left."""
    began = time.perf_counter()
    result = RunResult()
    with connection.cursor() as cursor:
        # The database's clock, the one the marks are made by.
        cursor.execute("SELECT clock_timestamp()")
        began_at = cursor.fetchone()[0]
        cursor.execute("SELECT DISTINCT hour FROM reporting_dirty_hour ORDER BY hour DESC")
        hours = [row[0] for row in cursor.fetchall()]
    for hour in hours:
        if time.perf_counter() - began > budget_seconds:
            break
        result.hours.append(rebuild_hour(hour, now=now))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT hour), count(*) FILTER (WHERE marked_at < %s) FROM reporting_dirty_hour",
            [began_at],
        )
        pending, older = cursor.fetchone()
        result.pending = pending
        cursor.execute(
            """
            INSERT INTO reporting_state
                (id, complete_at, last_run_at, last_run_hours, last_run_seconds, pending_hours)
            VALUES (1, CASE WHEN %(older)s = 0 THEN %(began)s::timestamptz END, now(),
                    %(hours)s, %(seconds)s, %(pending)s)
            ON CONFLICT (id) DO UPDATE SET
                complete_at = CASE WHEN %(older)s = 0 THEN %(began)s::timestamptz
                                   ELSE reporting_state.complete_at END,
                last_run_at = EXCLUDED.last_run_at, last_run_hours = EXCLUDED.last_run_hours,
                last_run_seconds = EXCLUDED.last_run_seconds, pending_hours = EXCLUDED.pending_hours
            """,
            {
                "older": older,
                "began": began_at,
                "hours": len(result.hours),
                "seconds": time.perf_counter() - began,
                "pending": pending,
            },
        )
    if result.hours:
        logger.info("rolled up %d hours (%d rows), %d pending", len(result.hours), result.rows, pending)
    return result


def mark_hours(start: datetime, end: datetime) -> int:
    """Mark every hour in [start, end) dirty (a time zone change, an operator's backfill)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO reporting_dirty_hour (hour, marked_at)
            SELECT h, now()
            FROM generate_series(%s::timestamptz, %s::timestamptz - interval '1 hour', interval '1 hour') h
            """,
            [floor_hour(start), end],
        )
        return cursor.rowcount


def watermark() -> datetime | None:
    """The time before which every event written is in the rollups (None before the first run)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT complete_at FROM reporting_state WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else None


def mark_advertiser_hours(advertiser_id: int) -> int:
    """Mark dirty every rebuildable hour in which the advertiser has rolled-up figures."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO reporting_dirty_hour (hour, marked_at)
            SELECT DISTINCT hour, now() FROM reporting_creative_hourly
            WHERE advertiser_id = %s AND hour >= %s
            """,
            [advertiser_id, frozen_before()],
        )
        return cursor.rowcount
