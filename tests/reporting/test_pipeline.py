"""The whole path, as `make run` runs it: simulated traffic through the real engine, tracking,
charging and postbacks, drained into the event tables by ingestion, rolled up, and read by the
reports; the reports' figures equal the raw events' counted straight from the tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from delivery import budget, ingest
from delivery.simulator import outcomes, runner
from reporting import query, rollup
from reporting.models import DirtyHour
from tests.delivery.test_simulator_loop import inventory  # noqa: F401 - the fixture
from tests.factories import ConversionEventFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)


def raw_totals(advertiser_id: int) -> dict[str, int]:
    """The advertiser's figures counted from the raw tables, without the rollups' SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE i.ivt_reason = ''), count(*) FILTER (WHERE i.ivt_reason <> '')
            FROM delivery_impression i JOIN delivery_decision d USING (event_id, decided_at)
            WHERE d.advertiser_id = %s AND NOT d.test
            """,
            [advertiser_id],
        )
        impressions, invalid_impressions = cursor.fetchone()
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE c.ivt_reason = ''), count(*) FILTER (WHERE c.ivt_reason <> '')
            FROM delivery_click c JOIN delivery_decision d USING (event_id, decided_at)
            WHERE d.advertiser_id = %s AND NOT d.test
            """,
            [advertiser_id],
        )
        clicks, invalid_clicks = cursor.fetchone()
        cursor.execute(
            "SELECT coalesce(sum(amount_micros) FILTER (WHERE kind = 'charge'), 0),"
            " coalesce(sum(amount_micros) FILTER (WHERE kind = 'credit'), 0)"
            " FROM campaigns_ledgerentry WHERE advertiser_id = %s",
            [advertiser_id],
        )
        spend, credit = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), coalesce(sum(value_micros), 0) FROM campaigns_conversion"
            " WHERE advertiser_id = %s AND attribution <> 'none' AND NOT test",
            [advertiser_id],
        )
        conversions, value = cursor.fetchone()
    return {
        "impressions": impressions,
        "invalid_impressions": invalid_impressions,
        "clicks": clicks,
        "invalid_clicks": invalid_clicks,
        "spend_micros": int(spend),
        "credit_micros": int(credit),
        "conversions": conversions,
        "conversion_value_micros": int(value),
    }


def test_simulated_traffic_drained_and_rolled_up_matches_the_raw_events(inventory) -> None:  # noqa: F811
    _, _, group = inventory
    budget.forget_redis_state()
    advertiser = group.campaign.advertiser
    ConversionEventFactory(advertiser=advertiser, name="Purchase", click_window_days=7)
    runner.run(hours=2, requests_per_hour=3_000, seed=17, start=START, n_users=3_000, inline=True)
    while ingest.drain("test-reports").entries:
        pass
    outcomes.report_due_conversions(17, datetime.now(UTC))
    assert DirtyHour.objects.exists()  # the drain's writes marked their hours

    rollup.roll_up()
    raw = raw_totals(advertiser.pk)
    assert raw["impressions"] > 1000 and raw["clicks"] > 0 and raw["spend_micros"] > 0
    days = query.Spec(
        advertiser, START.date() - timedelta(days=2), datetime.now(UTC).date() + timedelta(days=1)
    )
    totals = query.totals(days)
    assert {name: getattr(totals, name) for name in raw} == raw
    # The same, summed from breakdowns read from each grain.
    for dimensions in (("hour", "country"), ("day", "device", "placement"), ("creative",)):
        rows = query.run(days.but(dimensions=dimensions))
        summed = sum((row.totals for row in rows), query.ZERO)
        assert summed == totals

    # Conversions keep arriving for those clicks: the next rollup counts them in the clicks' hours.
    before = totals.conversions
    late = outcomes.report_due_conversions(17, datetime.now(UTC) + timedelta(days=3))
    rollup.roll_up()
    assert query.totals(days).conversions == before + late == raw_totals(advertiser.pk)["conversions"]
