"""Reach: how many different people saw a campaign's ads, estimated with HyperLogLog.

Each valid impression's person (the request's user key) is hashed by PostgreSQL
(hashtextextended, 64 bits); the low 11 bits choose one of 2,048 registers, which keeps the
longest run of leading zeros (plus one) seen in the other 53. A sketch is the registers; the
union of two audiences is the larger register of each pair, so an hour's sketches make a day's
and days make any range's, for one campaign or the whole account. The estimate's standard error is
1.04 / sqrt(2048), about 2.3%; small audiences are counted by linear counting, nearly exactly.

People without a user key (no cookie or device id) cannot be told apart and are not counted.
Reach is computed for an account or campaigns over the account's own days; not for ad groups,
creatives, countries, devices or placements (see reporting.models.ReachSketch).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import connection
from django.db.backends.utils import CursorWrapper

if TYPE_CHECKING:
    from reporting.query import Spec

P = 11
M = 1 << P
_ALPHA = 0.7213 / (1 + 1.079 / M)

# Per (advertiser day, campaign) of the hour's valid impressions: each register's largest rank.
HOURLY_REGISTERS = f"""
    SELECT day, advertiser_id, campaign_id, register, max(rank)
    FROM (
        SELECT (i.at AT TIME ZONE a.time_zone)::date AS day, d.advertiser_id, d.campaign_id,
               (h & {M - 1})::int AS register,
               -- The rank: where the first 1 is in the hash's top 53 bits (54 when none is).
               coalesce(nullif(position('1' IN substring(h::bit(64)::text, 1, {64 - P})), 0), {64 - P + 1})
                   AS rank
        FROM delivery_impression i
        JOIN delivery_decision d ON d.event_id = i.event_id AND d.decided_at = i.decided_at
        JOIN accounts_advertiser a ON a.id = d.advertiser_id
        CROSS JOIN LATERAL (SELECT hashtextextended(d.user_key, 0) AS h) hashed
        WHERE i.at >= %(start)s AND i.at < %(end)s
          AND i.decided_at < %(end)s::timestamptz + interval '1 day'
          AND i.ivt_reason = '' AND NOT d.test AND d.user_key <> ''
    ) ranked
    GROUP BY day, advertiser_id, campaign_id, register
"""  # noqa: S608 - built from constants only


def empty() -> np.ndarray:
    return np.zeros(M, dtype=np.uint8)


def merge(sketches: Iterable[bytes | memoryview]) -> np.ndarray:
    merged = empty()
    for sketch in sketches:
        np.maximum(merged, np.frombuffer(bytes(sketch), dtype=np.uint8), out=merged)
    return merged


def estimate(registers: np.ndarray) -> int:
    """The HyperLogLog estimate of the people in a sketch (Flajolet et al. 2007)."""
    zeros = int(np.count_nonzero(registers == 0))
    if zeros == M:
        return 0
    raw = _ALPHA * M * M / float(np.sum(np.ldexp(1.0, -registers.astype(np.int32))))
    if raw <= 2.5 * M and zeros:
        return round(M * math.log(M / zeros))  # linear counting: small audiences
    return round(raw)


def rebuild_hour(cursor: CursorWrapper, start: datetime, touched: set[tuple[date, int]]) -> None:
    """Replace the hour's sketches, then merge again the daily sketches of the (day, campaign)
    pairs it touches (`touched`, updated with the hour's own pairs). In the caller's transaction."""
    params = {"start": start, "end": start + timedelta(hours=1)}
    cursor.execute(
        "DELETE FROM reporting_reach_hourly WHERE hour = %(start)s RETURNING day, campaign_id", params
    )
    touched.update(cursor.fetchall())
    cursor.execute(HOURLY_REGISTERS, params)
    sketches: dict[tuple[date, int, int], np.ndarray] = {}
    for day, advertiser_id, campaign_id, register, rank in cursor.fetchall():
        sketches.setdefault((day, advertiser_id, campaign_id), empty())[register] = rank
    if sketches:
        cursor.executemany(
            "INSERT INTO reporting_reach_hourly (hour, day, advertiser_id, campaign_id, registers) "
            "VALUES (%s, %s, %s, %s, %s)",
            [
                (start, day, adv, campaign, registers.tobytes())
                for (day, adv, campaign), registers in sketches.items()
            ],
        )
        touched.update((day, campaign) for day, _, campaign in sketches)
    if not touched:
        return
    days, campaigns = zip(*sorted(touched), strict=True)
    pairs = {"days": list(days), "campaigns": list(campaigns)}
    cursor.execute(
        """
        SELECT r.day, r.advertiser_id, r.campaign_id, r.registers FROM reporting_reach_hourly r
        JOIN unnest(%(days)s::date[], %(campaigns)s::bigint[]) AS touched(day, campaign_id)
          USING (day, campaign_id)
        """,
        pairs,
    )
    daily: dict[tuple[date, int, int], np.ndarray] = {}
    for day, advertiser_id, campaign_id, registers in cursor.fetchall():
        merged = daily.setdefault((day, advertiser_id, campaign_id), empty())
        np.maximum(merged, np.frombuffer(bytes(registers), dtype=np.uint8), out=merged)
    cursor.execute(
        """
        DELETE FROM reporting_reach_daily r
        USING unnest(%(days)s::date[], %(campaigns)s::bigint[]) AS touched(day, campaign_id)
        WHERE r.day = touched.day AND r.campaign_id = touched.campaign_id
        """,
        pairs,
    )
    if daily:
        cursor.executemany(
            "INSERT INTO reporting_reach_daily (day, advertiser_id, campaign_id, registers) "
            "VALUES (%s, %s, %s, %s)",
            [(day, adv, campaign, registers.tobytes()) for (day, adv, campaign), registers in daily.items()],
        )


def of(spec: Spec) -> int | None:
    """The estimated people reached over the spec's days, for its account or campaigns; None when
    reach cannot be computed for the question (see the module's docstring)."""
    if not can_compute(spec):
        return None
    sql = "SELECT registers FROM reporting_reach_daily WHERE advertiser_id = %s AND day BETWEEN %s AND %s"
    params: list[Any] = [spec.advertiser.pk, spec.start, spec.end]
    if "campaign" in spec.filters:
        sql += " AND campaign_id = ANY(%s)"
        params.append(list(spec.filters["campaign"]))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return estimate(merge(row[0] for row in cursor.fetchall()))


def can_compute(spec: Spec) -> bool:
    return spec.own_days and set(spec.filters) <= {"campaign"}
