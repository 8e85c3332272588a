"""The simulator through the delivery loop: real decisions, real tracking, the ground truth beside the
events, and `manage.py simulate`'s summary."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest
from django.core.management import CommandError, call_command
from numpy.random import PCG64, Generator

from campaigns.models import Creative
from delivery import ingest, loop
from delivery.events import STREAM
from delivery.models import TruthEvent
from delivery.request import Win
from delivery.simulator import outcomes, runner
from delivery.simulator.batches import Batch
from delivery.simulator.traffic import hourly_volume, traffic_between
from delivery.simulator.world import KIND_CLICK_SPAM, World, load_placements
from tests.delivery.serving import fresh_index, live_ad_group
from tests.factories import PlacementFactory, PublisherFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]


@pytest.fixture
def inventory(settings, tmp_path):
    """A banner placement and a native one, and an ad group that anyone may see on either."""
    settings.MEDIA_ROOT = tmp_path
    publisher = PublisherFactory(domain="trailheadmag.com", name="Trailhead Magazine")
    banner = PlacementFactory(
        publisher=publisher,
        key="trail-mpu",
        sizes=["300x250"],
        daily_requests=200_000,
        floor_cpm_micros=500_000,
    )
    native = PlacementFactory(
        publisher=publisher, key="trail-native", format=Creative.Format.NATIVE, sizes=[],
        daily_requests=100_000, floor_cpm_micros=500_000,
    )  # fmt: skip
    group = live_ad_group(bid_micros=3_000_000)
    live_ad_group(campaign=group.campaign, creative_format=Creative.Format.NATIVE, bid_micros=3_000_000)
    fresh_index()
    return banner, native, group


def stream_events() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for _, fields in loop.redis_client().xrange(STREAM):
        out[fields[b"kind"].decode()].append(orjson.loads(fields[b"data"]))
    return out


def test_load_placements_reads_the_active_ones_in_one_query(django_assert_num_queries):
    publisher = PublisherFactory(domain="pocketrecipes.app")
    kept = PlacementFactory(publisher=publisher, sizes=["320x50", "300x50"], daily_requests=3_000_000)
    PlacementFactory(publisher=publisher, is_active=False)
    PlacementFactory(publisher=PublisherFactory(is_active=False))
    with django_assert_num_queries(1):
        (placement,) = load_placements()
    assert placement.daily_requests == 3_000_000
    assert placement.info.id == kept.pk and placement.info.key == kept.key
    assert placement.info.publisher_domain == "pocketrecipes.app"
    assert placement.info.sizes == frozenset({(320, 50), (300, 50)})
    assert placement.info.floor_cpm_micros == kept.floor_cpm_micros


def test_a_simulated_hour_runs_through_the_engine_and_the_tracking_code(inventory):
    *_, group = inventory
    start = runner.default_start(1)
    result = runner.run(hours=1, requests_per_hour=3_000, seed=3, start=start, n_users=5_000, batch_size=400)
    tally = result.tally
    world = World.build(3, load_placements(), n_users=5_000)
    assert tally.requests == hourly_volume(world, start, 3_000)
    assert result.batches == -(-tally.requests // 400)
    # Everyone is targeted and the bid clears the floor: nearly every request is won.
    assert tally.wins == tally.requests
    assert tally.impressions == pytest.approx(0.95 * tally.wins, abs=4 * (0.05 * 0.95 * tally.wins) ** 0.5)
    events = stream_events()
    assert len(events["decision"]) == tally.wins
    assert len(events["impression"]) == tally.impressions
    assert len(events["click"]) == tally.clicks
    assert len(events["truth"]) == tally.impressions
    assert {e["event_id"] for e in events["truth"]} == {e["event_id"] for e in events["impression"]}
    assert all(0 < e["p_click"] < 1 and 0 <= e["p_conversion"] < 1 for e in events["truth"])
    assert sum(e["clicked"] for e in events["truth"]) >= tally.clicks - sum(
        1 for e in events["click"] if e["ivt_reason"] == "click_without_impression"
    )
    assert tally.conversions == sum(e["converted"] for e in events["truth"])
    assert all(not e["converted"] or e["clicked"] for e in events["truth"])
    # Impressions carry the simulated clock, not the wall clock.
    assert all(
        start.timestamp() * 1000 <= e["at"] < (start.timestamp() + 3_700) * 1000 for e in events["impression"]
    )
    # The bots' impressions are caught by their user agents.
    invalid = Counter(e["ivt_reason"] for e in events["impression"] if e["ivt_reason"])
    assert invalid["crawler"] + invalid["non_browser"] > 0
    assert tally.valid_impressions == len(events["impression"]) - sum(invalid.values())
    assert 0 < tally.ivt_share < 0.1
    # Spend: the cleared price of each valid impression (the ad groups are billed per impression).
    price = {e["event_id"]: e["price_micros"] for e in events["decision"]}
    valid = [e["event_id"] for e in events["impression"] if not e["ivt_reason"]]
    assert tally.spend == {(group.campaign_id, "USD"): sum(price[event_id] for event_id in valid)}
    # Nothing is left queued.
    assert not loop.redis_client().keys("adwright:loop:batch:*")


def test_the_truth_is_stored_beside_the_events(inventory):
    result = runner.run(hours=1, requests_per_hour=600, seed=5, n_users=2_000, inline=True)
    ingest.drain("test-simulator")
    truths = TruthEvent.objects.all()
    assert truths.count() == result.tally.impressions
    assert truths.filter(converted=True).count() == result.tally.conversions
    assert not truths.filter(converted=True, clicked=False).exists()


def test_fatigue_counts_a_persons_exposures_to_a_campaign_per_day(inventory):
    _, _, group = inventory
    win = Win(
        event_id="e", slot_id="s", placement_id=None, advertiser_id=1, campaign_id=group.campaign_id,
        ad_group_id=group.pk, creative_id=1, bid_cpm_micros=1, price_cpm_micros=1, price_micros=0,
        currency="USD", billing_event="impression", pctr=0.01, pcvr=0.01, runner_up_cpm_micros=None,
    )  # fmt: skip
    monday = datetime(2025, 5, 5, 9, tzinfo=UTC)
    counts = outcomes._count_exposures(
        9,
        ["u1", "u1", "u2", "u1", "u1"],
        [monday, monday, monday, monday, monday + timedelta(days=1)],
        [win] * 5,
    )
    assert counts.tolist() == [0, 1, 0, 2, 0]


def test_click_spammers_are_caught_by_the_rate_limits(inventory):
    world = World.build(2, load_placements(), n_users=5_000)
    start = runner.default_start(1)
    burst = traffic_between(world, start, start + timedelta(minutes=2), 100_000, Generator(PCG64(4)))
    spam = burst.take(np.flatnonzero(burst.kind == KIND_CLICK_SPAM))
    assert len(spam) > 200
    tally = loop.play(Batch(run_id="", seed=2, traffic=spam), rng_seed=1)
    assert tally.clicks > 60
    assert tally.ivt["user_rate_limited"] + tally.ivt["ip_rate_limited"] > 0.3 * tally.clicks
    assert tally.conversions == 0


def test_a_batch_run_twice_is_played_once(inventory):
    world = World.build(1, load_placements(), n_users=1_000)
    start = runner.default_start(1)
    traffic = traffic_between(world, start, start + timedelta(minutes=5), 50, Generator(PCG64(1)))
    key = loop.enqueue(Batch(run_id="twice", seed=1, traffic=traffic), 0)
    first = loop.run_batch(key)
    second = loop.run_batch(key)
    assert first["requests"] == 50 and first["wins"] == 50
    assert second["requests"] == 0
    progress = loop.progress("twice")
    assert progress.batches_done == 1
    assert progress.tally.requests == 50


def test_the_simulate_command_prints_a_summary(inventory):
    _, _, group = inventory
    out = io.StringIO()
    arguments = "--hours 2 --requests-per-hour 300 --users 2000 --seed 4 --inline"
    call_command("simulate", *arguments.split(), stdout=out)
    text = out.getvalue()
    for label in ("requests", "auctions won", "impressions", "clicks", "conversions", "IVT share", "elapsed"):
        assert label in text
    assert "spend by campaign" in text and group.campaign.name in text and "$" in text


def test_the_simulate_command_refuses_bad_arguments(inventory):
    with pytest.raises(CommandError, match="--start"):
        call_command("simulate", "--start", "yesterday", "--inline", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--hours"):
        call_command("simulate", "--hours", "0", stdout=io.StringIO())


def test_the_live_simulator_keeps_pace_with_the_clock(inventory):
    ticks: list[tuple[datetime, int]] = []
    before = datetime.now(UTC)
    result = runner.run_live(
        requests_per_hour=3_600_000, seed=1, n_users=2_000, tick_seconds=0.05, inline=True,
        should_stop=lambda: len(ticks) >= 3, on_tick=lambda now, n: ticks.append((now, n)),
    )  # fmt: skip
    assert len(ticks) == 3
    assert result.tally.requests == sum(n for _, n in ticks) > 0
    decided = [e["at"] for e in stream_events()["decision"]]
    assert len(decided) == result.tally.wins
    # Decision times are whole milliseconds, rounded down.
    assert all(int(before.timestamp() * 1000) <= at <= ticks[-1][0].timestamp() * 1000 for at in decided)
