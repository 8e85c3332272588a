"""The rollups against the raw events they sum: every grain, on randomised events (Hypothesis),
equals sums computed here in Python from the same events, including invalid traffic, credits and
conversions that arrive late; rebuilding changes nothing; days are the advertiser's, across a
daylight-saving change and in a zone half an hour off UTC; retention keeps the rollups."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import Campaign, LedgerEntry
from delivery.models.events import drop_partitions_before, retention_days
from reporting import query, rollup
from reporting.models import CreativeDayRollup, CreativeHourRollup, DailyRollup, DirtyHour, HourlyRollup
from tests.factories import AdvertiserFactory, PlacementFactory, approved_creative
from tests.reporting.events import Ad, write

# The night New York's clocks went back (2026-11-01 02:00 EDT -> 01:00 EST): a 25-hour day.
NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
DST_DAY = date(2026, 11, 1)
WINDOW_START = datetime(2026, 10, 31, 18, tzinfo=UTC)
MEASURES = rollup.MEASURES


@pytest.fixture
def world(db):
    """Two advertisers: New York (a DST change in the window) and Kolkata (UTC+05:30)."""
    with time_machine.travel(NOW, tick=False):
        ny = AdvertiserFactory(time_zone="America/New_York")
        kolkata = AdvertiserFactory(time_zone="Asia/Kolkata", currency="INR")
        creatives = [
            approved_creative(ad_group__campaign__advertiser=ny),
            approved_creative(ad_group__campaign__advertiser=ny),
            approved_creative(ad_group__campaign__advertiser=kolkata),
        ]
        # A second creative in the first one's ad group.
        creatives.append(approved_creative(ad_group=creatives[0].ad_group))
        placements = [PlacementFactory(), PlacementFactory()]
        yield {"creatives": creatives, "placements": [None, *(p.pk for p in placements)]}


def ad_strategy(world: dict[str, Any]) -> st.SearchStrategy[Ad]:
    return st.builds(
        Ad,
        creative=st.sampled_from(world["creatives"]),
        decided_at=st.integers(0, 40 * 3600 - 1).map(lambda s: WINDOW_START + timedelta(seconds=s)),
        placement_id=st.sampled_from(world["placements"]),
        country=st.sampled_from(["US", "IN", "DE", ""]),
        device_type=st.sampled_from(["mobile", "desktop", "ctv"]),
        impression=st.sampled_from(["valid", "valid", "valid", "invalid", None]),
        impression_delay_s=st.floats(0, 3599),
        click=st.sampled_from([None, None, "valid", "invalid"]),
        click_delay_s=st.floats(0, 5 * 3600),
        charge_micros=st.sampled_from([0, 1, 1_250, 999_999]),
        charge_on_click=st.booleans(),
        conversion_value_micros=st.sampled_from([None, None, 0, 12_340_000]),
        conversion_delay_s=st.floats(0, 3 * 86400),
        test=st.sampled_from([False, False, False, True]),
    )


def expected_hourly(ads: list[Ad]) -> dict[tuple[Any, ...], Counter[str]]:
    """The finest grain, computed in Python by the convention of reporting.models."""
    sums: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)

    def add(ad: Ad, at: datetime, **measures: int) -> None:
        creative = ad.creative
        advertiser = creative.ad_group.campaign.advertiser
        at = at.astimezone(UTC)
        key = (
            at.replace(minute=0, second=0, microsecond=0),
            at.astimezone(advertiser.tz).date(),
            advertiser.pk,
            creative.ad_group.campaign_id,
            creative.ad_group_id,
            creative.pk,
            ad.placement_id or 0,
            ad.country,
            ad.device_type,
        )
        sums[key].update(measures)

    for ad in ads:
        if ad.test:
            continue
        decided = datetime.fromtimestamp(int(ad.decided_at.timestamp() * 1000) / 1000, UTC)
        shown = decided + timedelta(seconds=ad.impression_delay_s)
        clicked = decided + timedelta(seconds=ad.click_delay_s)
        if ad.impression:
            add(ad, shown, **{"impressions" if ad.impression == "valid" else "invalid_impressions": 1})
        if ad.click:
            add(ad, clicked, **{"clicks" if ad.click == "valid" else "invalid_clicks": 1})
        if ad.charge_micros:
            add(ad, clicked if ad.charge_on_click else shown, spend_micros=ad.charge_micros)
        if ad.conversion_value_micros is not None:
            add(
                ad,
                clicked if ad.click else shown,
                conversions=1,
                conversion_value_micros=ad.conversion_value_micros,
            )
    return {key: +counter for key, counter in sums.items() if +counter}


def table_sums(model: type, key: tuple[str, ...]) -> dict[tuple[Any, ...], Counter[str]]:
    sums: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    for row in model.objects.values(*key, *MEASURES):
        sums[tuple(row[k] for k in key)].update({m: row[m] for m in MEASURES})
    return {k: +c for k, c in sums.items() if +c}


HOURLY_KEY = (
    "hour",
    "day",
    "advertiser_id",
    "campaign_id",
    "ad_group_id",
    "creative_id",
    "placement_id",
    "country",
    "device_type",
)


def coarser(
    sums: dict[tuple[Any, ...], Counter[str]], positions: list[int]
) -> dict[tuple[Any, ...], Counter[str]]:
    out: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    for key, counter in sums.items():
        out[tuple(key[p] for p in positions)].update(counter)
    return dict(out)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_grain_sums_to_the_raw_events(world, data):
    ads = data.draw(st.lists(ad_strategy(world), min_size=1, max_size=40))
    with time_machine.travel(NOW, tick=False), transaction.atomic():
        write(ads)
        expected = expected_hourly(ads)
        assert table_sums(HourlyRollup, HOURLY_KEY) == expected
        assert table_sums(CreativeHourRollup, HOURLY_KEY[:6]) == coarser(expected, list(range(6)))
        assert table_sums(DailyRollup, HOURLY_KEY[1:]) == coarser(expected, list(range(1, 9)))
        assert table_sums(CreativeDayRollup, HOURLY_KEY[1:6]) == coarser(expected, list(range(1, 6)))
        assert not DirtyHour.objects.exists()
        # Every report's totals are the same sums, whichever grain answers it.
        for advertiser_id in {key[2] for key in expected}:
            advertiser = Campaign.objects.get(
                pk=next(k[3] for k in expected if k[2] == advertiser_id)
            ).advertiser
            mine: Counter[str] = Counter()
            for key, counter in expected.items():
                if key[2] == advertiser_id:
                    mine.update(counter)
            spec = query.Spec(advertiser, date(2026, 10, 30), date(2026, 11, 6))
            for dimensions in [(), ("country",), ("hour", "device"), ("day", "placement"), ("hour_of_day",)]:
                rows = query.run(spec.but(dimensions=dimensions))
                summed = sum((row.totals for row in rows), query.ZERO)
                assert {m: getattr(summed, m) for m in MEASURES if getattr(summed, m)} == dict(+mine)
        transaction.set_rollback(True)


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    tables = {}
    with connection.cursor() as cursor:
        for table in (
            "reporting_hourly",
            "reporting_creative_hourly",
            "reporting_daily",
            "reporting_creative_daily",
            "reporting_reach_hourly",
            "reporting_reach_daily",
        ):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - constant names
            # Ids change on a rebuild; the rows' contents must not.
            tables[table] = sorted(row[1:] for row in cursor.fetchall())
    return tables


def test_rebuilding_every_hour_again_changes_nothing(world):
    ads = [
        Ad(
            c,
            WINDOW_START + timedelta(minutes=37 * i),
            click="valid" if i % 3 == 0 else None,
            charge_micros=1000 + i,
            conversion_value_micros=5_000_000 if i % 5 == 0 else None,
        )
        for i, c in enumerate(world["creatives"] * 12)
    ]
    with time_machine.travel(NOW, tick=False):
        write(ads)
        before = snapshot()
        hours = sorted({row[0] for row in HourlyRollup.objects.values_list("hour")})
        assert len(hours) > 10
        for hour in hours:
            rollup.rebuild_hour(hour)
            rollup.rebuild_hour(hour)
        assert snapshot() == before


def test_a_conversion_arriving_days_later_is_counted_in_its_ad_s_old_hour(world):
    creative = world["creatives"][0]
    shown = datetime(2026, 11, 3, 15, 20, tzinfo=UTC)
    with time_machine.travel(NOW, tick=False):
        [event_id] = write([Ad(creative, shown, click="valid", click_delay_s=60)])
        hour = shown.replace(minute=0)
        assert HourlyRollup.objects.get(hour=hour, clicks=1).conversions == 0
        # Five days later the advertiser's postback arrives, credited to that click.
        from campaigns.models import Conversion, ConversionEvent

        event = ConversionEvent.objects.create(
            advertiser=creative.ad_group.campaign.advertiser, name="Signup", category="lead"
        )
        Conversion.objects.create(
            advertiser=event.advertiser,
            conversion_event=event,
            event_id="late-1",
            occurred_at=shown + timedelta(days=2),
            received_at=shown + timedelta(days=5),
            value_micros=7_000_000,
            currency="USD",
            source=Conversion.Source.POSTBACK,
            attribution=Conversion.Attribution.CLICK,
            attributed_event_id=event_id,
            campaign=creative.ad_group.campaign,
            ad_group_id=creative.ad_group_id,
            creative_id=creative.pk,
            touch_at=shown + timedelta(seconds=60),
        )
        assert list(DirtyHour.objects.values_list("hour", flat=True)) == [hour]
        rollup.roll_up()
        row = HourlyRollup.objects.get(hour=hour, clicks=1)
        assert (row.conversions, row.conversion_value_micros, row.country) == (1, 7_000_000, "US")
        daily = DailyRollup.objects.get(day=date(2026, 11, 3), campaign_id=creative.ad_group.campaign_id)
        assert daily.conversions == 1


def test_new_york_s_daylight_saving_day_has_25_hours(world):
    ny_creative = world["creatives"][0]
    advertiser = ny_creative.ad_group.campaign.advertiser
    # One impression at 00:30 of each UTC hour from the local day's start (04:00Z, EDT) to the
    # next day's start (05:00Z, EST): 25 of them belong to 1 November.
    start = datetime(2026, 11, 1, 4, 30, tzinfo=UTC)
    ads = [Ad(ny_creative, start + timedelta(hours=h), impression_delay_s=0) for h in range(27)]
    with time_machine.travel(NOW, tick=False):
        write(ads)
        days = query.by(query.Spec(advertiser, date(2026, 10, 31), date(2026, 11, 2)), "day")
        assert {d: t.impressions for d, t in days.items()} == {date(2026, 11, 1): 25, date(2026, 11, 2): 2}
        by_hour = query.by(query.Spec(advertiser, DST_DAY, DST_DAY), "hour_of_day")
        assert by_hour[1].impressions == 2  # 01:00 happened twice
        assert sum(t.impressions for t in by_hour.values()) == 25
        # The same day asked in UTC is the UTC day.
        utc_days = query.by(query.Spec(advertiser, DST_DAY, DST_DAY, time_zone="UTC"), "day")
        assert utc_days == {DST_DAY: query.Totals(impressions=20)}


def test_a_day_half_an_hour_off_utc_splits_the_utc_hour(world):
    creative = world["creatives"][2]  # Kolkata, UTC+05:30: local midnight is 18:30Z
    advertiser = creative.ad_group.campaign.advertiser
    before = Ad(creative, datetime(2026, 11, 2, 18, 20, tzinfo=UTC), impression_delay_s=0, charge_micros=100)
    after = Ad(creative, datetime(2026, 11, 2, 18, 40, tzinfo=UTC), impression_delay_s=0, charge_micros=200)
    with time_machine.travel(NOW, tick=False):
        write([before, after])
        rows = HourlyRollup.objects.filter(hour=datetime(2026, 11, 2, 18, tzinfo=UTC)).order_by("day")
        assert [(r.day, r.impressions) for r in rows] == [(date(2026, 11, 2), 1), (date(2026, 11, 3), 1)]
        days = query.by(query.Spec(advertiser, date(2026, 11, 1), date(2026, 11, 4)), "day")
        assert {d: t.spend_micros for d, t in days.items()} == {
            date(2026, 11, 2): 100,
            date(2026, 11, 3): 200,
        }
        with pytest.raises(query.ReportError) as refused:
            query.run(
                query.Spec(advertiser, date(2026, 11, 2), date(2026, 11, 2), time_zone="Asia/Kathmandu")
            )
        assert refused.value.field == "time_zone"


def test_test_traffic_is_not_counted_and_credits_are_net_of_spend(world):
    creative = world["creatives"][0]
    campaign = creative.ad_group.campaign
    at = datetime(2026, 11, 4, 10, tzinfo=UTC)
    with time_machine.travel(NOW, tick=False):
        write(
            [Ad(creative, at, charge_micros=5000), Ad(creative, at, charge_micros=7000, test=True)],
            roll=False,
        )
        LedgerEntry.objects.create(
            event_id="018f0000-0000-7000-8000-000000000001",
            kind=LedgerEntry.Kind.CREDIT,
            reason=LedgerEntry.Reason.OVER_DAILY_BUDGET,
            advertiser=campaign.advertiser,
            campaign=campaign,
            amount_micros=1200,
            currency="USD",
            day=date(2026, 11, 4),
            at=at + timedelta(minutes=30),
        )
        rollup.roll_up()
        totals = query.totals(query.Spec(campaign.advertiser, date(2026, 11, 4), date(2026, 11, 4)))
        assert (totals.impressions, totals.spend_micros, totals.credit_micros, totals.net_spend_micros) == (
            1,
            5000,
            1200,
            3800,
        )
        # The credit belongs to the campaign, not to any creative or country.
        by_country = query.by(
            query.Spec(campaign.advertiser, date(2026, 11, 4), date(2026, 11, 4)), "country"
        )
        assert by_country[""].credit_micros == 1200 and by_country["US"].spend_micros == 5000


def test_retention_drops_raw_partitions_and_keeps_the_rollups(world):
    creative = world["creatives"][0]
    at = datetime(2026, 11, 2, 10, tzinfo=UTC)
    with time_machine.travel(NOW, tick=False):
        write([Ad(creative, at, charge_micros=5000)])
    before = snapshot()
    later = at + timedelta(days=retention_days() + 2)
    with time_machine.travel(later, tick=False):
        dropped = drop_partitions_before(later.date() - timedelta(days=retention_days()))
        assert "delivery_impression_p20261102" in dropped
        # A late mark on that hour (say, a conversion) must not erase what the rollups kept.
        rollup.mark_hours(at, at + timedelta(hours=1))
        result = rollup.roll_up()
        assert result.hours[0].skipped
        assert snapshot() == before
        assert not DirtyHour.objects.exists()


def test_a_new_mark_made_while_an_hour_is_rebuilt_is_kept(world):
    creative = world["creatives"][0]
    at = datetime(2026, 11, 5, 10, tzinfo=UTC)
    with time_machine.travel(NOW, tick=False):
        write([Ad(creative, at)], roll=False)
        mark = DirtyHour.objects.get()
        # Another writer marks the hour again between the rebuild's reading of the marks and its end.
        original = rollup._REBUILD_CREATIVE
        again = (
            "INSERT INTO reporting_dirty_hour (hour, marked_at) SELECT hour, now() FROM reporting_dirty_hour"
        )
        try:
            rollup._REBUILD_CREATIVE = f"{original}; {again}"
            rollup.rebuild_hour(at)
        finally:
            rollup._REBUILD_CREATIVE = original
        assert DirtyHour.objects.get().pk != mark.pk
        rollup.roll_up()
        assert not DirtyHour.objects.exists()


def test_the_watermark_moves_only_when_nothing_older_is_left(world):
    creative = world["creatives"][0]
    with time_machine.travel(NOW, tick=False):
        write([Ad(creative, datetime(2026, 11, 5, 10, tzinfo=UTC))], roll=False)
    assert rollup.watermark() is None
    rollup.roll_up(budget_seconds=-1)  # no time at all: nothing rebuilt
    assert rollup.watermark() is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        began = cursor.fetchone()[0]
    rollup.roll_up()
    assert rollup.watermark() is not None and rollup.watermark() >= began


def test_a_time_zone_change_rolls_the_account_s_hours_up_on_its_new_days(
    world, django_capture_on_commit_callbacks
):
    creative = world["creatives"][0]
    advertiser = creative.ad_group.campaign.advertiser
    at = datetime(2026, 11, 5, 2, tzinfo=UTC)  # 21:00 on the 4th in New York, the 5th in UTC
    with time_machine.travel(NOW, tick=False):
        write([Ad(creative, at, impression_delay_s=0)])
        assert list(query.by(query.Spec(advertiser, date(2026, 11, 3), date(2026, 11, 6)), "day")) == [
            date(2026, 11, 4)
        ]
        with django_capture_on_commit_callbacks(execute=True):
            advertiser.time_zone = "UTC"
            advertiser.save()
        rollup.roll_up()
        assert list(query.by(query.Spec(advertiser, date(2026, 11, 3), date(2026, 11, 6)), "day")) == [
            date(2026, 11, 5)
        ]
