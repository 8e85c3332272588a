"""Each rollup grain keeps at most 1/20 of the raw rows, on the simulator's own data.

The issue: "a rollup that keeps more than 1/20 of the raw rows on the simulator's data is the wrong
grain". The data here is the simulator's, end to end: the world the models bench plays
(bench.model_world: the demo world that seed_demo makes, and beside it twelve campaigns of three
more advertisers with broad targeting, in every format, so that most requests have several
candidates), two hours of its traffic written by the fast history path
(delivery.simulator.history: the real engine's decisions, the ground truth's impressions, clicks and
conversions), then rolled up by `rollup.roll_up()` as the Celery task does.

Raw rows are those an hour's rollup reads: decisions, impressions, clicks, ledger entries (none
here: the history charges nothing) and conversions.

The size: a grain's rows are the combinations of its dimensions that happened in a bucket (an hour,
a day), so its share of the raw rows falls as the traffic in a bucket grows. The test plays the
simulator's default volume (`manage.py simulate`: 10,000 requests an hour on average over a day,
following the sun), two hours from 14:00 UTC, whose share is the day's: over a whole day of this
world at that volume the finest grain (hour x creative x placement x country x device) keeps 1/27
of the raw rows, from 1/18.5 in the quietest hour (08:00 UTC, 13,000 raw rows) to 1/36 in the
busiest; the creative-hour grain about 1/780, the daily grain 1/240 (and the creative-day grain
fewer still). So at a few thousand raw rows
an hour and below, the finest grain keeps more than a twentieth: bench `reporting` measures where
an account with hundreds of creatives falls.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from bench import model_world
from delivery.simulator.history import write_history
from reporting import rollup

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]

REQUESTS_PER_HOUR = 10_000  # the simulator's default (manage.py simulate --requests-per-hour)
HOURS = 2
MAX_SHARE = 1 / 20
RAW_TABLES = (
    "delivery_decision",
    "delivery_impression",
    "delivery_click",
    "campaigns_ledgerentry",
    "campaigns_conversion",
)
GRAINS = ("reporting_hourly", "reporting_creative_hourly", "reporting_creative_daily", "reporting_daily")


def rows(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - a constant name
        return cursor.fetchone()[0]


@pytest.fixture
def history(settings, tmp_path):
    """Two hours of the simulator's traffic, from 14:00 UTC yesterday."""
    settings.MEDIA_ROOT = tmp_path
    model_world.build()
    start = datetime.now(UTC).replace(hour=14, minute=0, second=0, microsecond=0) - timedelta(days=1)
    written = write_history(
        start=start, hours=HOURS, requests_per_hour=REQUESTS_PER_HOUR, seed=7, n_users=20_000
    )
    result = rollup.roll_up(budget_seconds=600)
    assert result.pending == 0 and len(result.hours) >= HOURS
    return written


def test_every_grain_keeps_at_most_a_twentieth_of_the_raw_rows(history):
    raw = sum(rows(table) for table in RAW_TABLES)
    # The world's variety reached the rollups: many creatives, every device type, most countries.
    assert history.decisions > 0.9 * history.requests and history.clicks > 50
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT creative_id), count(DISTINCT placement_id), count(DISTINCT country), "
            "count(DISTINCT device_type) FROM reporting_hourly"
        )
        creatives, placements, countries, devices = cursor.fetchone()
    assert creatives >= 20 and placements >= 6 and countries >= 15 and devices == 4

    shares = {table: rows(table) / raw for table in GRAINS}
    for table, share in shares.items():
        assert 0 < share <= MAX_SHARE, f"{table} keeps 1/{1 / share:.1f} of {raw:,} raw rows"
    # The coarser grains are coarser.
    assert shares["reporting_creative_hourly"] < shares["reporting_hourly"]
    assert shares["reporting_daily"] < shares["reporting_hourly"]
    assert shares["reporting_creative_daily"] <= shares["reporting_creative_hourly"]
