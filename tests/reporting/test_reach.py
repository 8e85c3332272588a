"""Reach from HyperLogLog sketches: near the exact count of people, merged across hours, days and
campaigns as a union (not a sum), and only where it can be computed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import time_machine
from django.db import connection

from reporting import query, reach
from tests.factories import AdvertiserFactory, approved_creative
from tests.reporting.events import Ad, write

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)


def people(ids: list) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT d.user_key FROM delivery_decision d"
            " JOIN delivery_impression i USING (event_id, decided_at)"
            " WHERE d.event_id = ANY(%s) AND i.ivt_reason = '' AND NOT d.test",
            [ids],
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def creatives(db):
    with time_machine.travel(NOW, tick=False):
        advertiser = AdvertiserFactory(time_zone="UTC")
        first = approved_creative(ad_group__campaign__advertiser=advertiser)
        second = approved_creative(ad_group__campaign__advertiser=advertiser)
        yield first, second


def test_estimates_are_close_to_the_exact_count_and_unions_are_not_sums(creatives):
    first, second = creatives
    advertiser = first.ad_group.campaign.advertiser
    start = datetime(2026, 11, 3, tzinfo=UTC)
    # tests.reporting.events gives the n-th ad the person u{n % 97}: 97 people, seen by both
    # campaigns over two days, several times each.
    ads = [Ad(first if n % 2 else second, start + timedelta(minutes=17 * n)) for n in range(240)]
    with time_machine.travel(NOW, tick=False):
        ids = write(ads)
        exact = len(people(ids))
        spec = query.Spec(advertiser, date(2026, 11, 3), date(2026, 11, 6))
        estimated = reach.of(spec)
        assert exact > 90 and abs(estimated - exact) <= 2  # small audiences: linear counting
        per_campaign = [
            reach.of(spec.but(filters={"campaign": (c.ad_group.campaign_id,)})) for c in creatives
        ]
        assert all(n <= estimated for n in per_campaign) and sum(per_campaign) > estimated
        # An invalid impression's person, and a test request's, are not reached.
        more = write([Ad(first, start, impression="invalid"), Ad(first, start, test=True)])
        assert len(more) == 2 and reach.of(spec) == estimated


def test_a_large_audience_is_within_a_few_standard_errors():
    # 200,000 distinct hashes: the estimate's standard error is 2.3%.
    rng = np.random.default_rng(5)
    hashes = rng.integers(-(2**63), 2**63 - 1, size=200_000, dtype=np.int64).astype(np.uint64)
    registers = reach.empty()
    index = (hashes & np.uint64(reach.M - 1)).astype(np.int64)
    top = hashes >> np.uint64(reach.P)
    # The rank as the SQL computes it: 1 + leading zeros of the top 53 bits (54 when all zero).
    bits = 64 - reach.P
    ranks = np.where(
        top == 0, bits + 1, bits - np.floor(np.log2(np.maximum(top, 1).astype(np.float64))).astype(np.int64)
    )
    np.maximum.at(registers, index, ranks.astype(np.uint8))
    assert abs(reach.estimate(registers) - 200_000) / 200_000 < 3 * 0.023


def test_reach_is_not_computed_where_sketches_do_not_reach(creatives):
    advertiser = creatives[0].ad_group.campaign.advertiser
    spec = query.Spec(advertiser, date(2026, 11, 3), date(2026, 11, 6))
    assert reach.of(spec) == 0
    assert reach.of(spec.but(filters={"country": ("US",)})) is None
    assert reach.of(spec.but(filters={"ad_group": (creatives[0].ad_group_id,)})) is None
    assert reach.of(spec.but(time_zone="Asia/Tokyo")) is None
