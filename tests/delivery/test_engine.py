"""Retrieval, filters, ranking and pricing of the decision engine, on a real index of real rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.utils import timezone

from accounts.models import Advertiser
from campaigns.models import AdGroup, BidStrategy, Campaign, Creative, Objective
from delivery import engine
from delivery.engine import FilterReason
from delivery.events import STREAM
from tests.delivery.serving import ad_request, fresh_index, live_ad_group, slot_for
from tests.factories import AdvertiserFactory, CampaignFactory, PlacementFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]


@pytest.fixture
def placement():
    return PlacementFactory(sizes=["300x250", "728x90"], floor_cpm_micros=500_000)


def winners(request) -> list[int]:
    return [win.ad_group_id for win in engine.decide(request).wins]


def test_an_ad_group_targeting_everyone_wins_and_pays_the_reserve_alone(placement):
    group = live_ad_group(bid_micros=2_000_000)
    fresh_index()
    decision = engine.decide(ad_request(slot_for(placement)))
    [win] = decision.wins
    assert win.ad_group_id == group.pk
    assert win.bid_cpm_micros == 2_000_000
    assert win.price_cpm_micros == 500_000  # a lone bidder pays the reserve
    assert win.price_micros == 500  # one impression of a 0.50 CPM
    assert win.runner_up_cpm_micros is None


def test_second_price_pays_the_runner_up(placement):
    high = live_ad_group(bid_micros=3_000_000)
    live_ad_group(bid_micros=1_200_000)
    fresh_index()
    [win] = engine.decide(ad_request(slot_for(placement))).wins
    assert (win.ad_group_id, win.price_cpm_micros) == (high.pk, 1_200_000)


def test_first_price_pays_the_bid(placement):
    live_ad_group(bid_micros=3_000_000)
    live_ad_group(bid_micros=1_200_000)
    fresh_index()
    request = ad_request(slot_for(placement))
    request = type(request)(**{**{f: getattr(request, f) for f in request.__slots__}, "first_price": True})
    [win] = engine.decide(request).wins
    assert win.price_cpm_micros == 3_000_000


def test_nothing_is_sold_below_the_reserve(placement):
    live_ad_group(bid_micros=400_000)
    fresh_index()
    decision = engine.decide(ad_request(slot_for(placement), explain=True))
    assert decision.wins == []
    reasons = {r.reason for r in decision.explanations[0].rejections}
    assert reasons == {FilterReason.BELOW_RESERVE}


@pytest.mark.parametrize(
    ("targeting", "context", "reason"),
    [
        ({"countries": ["DE"]}, {"country": "US"}, FilterReason.LOCATION),
        ({"regions": ["US-CA"]}, {"country": "US", "region": "US-NY"}, FilterReason.LOCATION),
        ({"languages": ["fr"]}, {"language": "en"}, FilterReason.LANGUAGE),
        ({"age_ranges": [{"min": 18, "max": 24}]}, {"age": 40}, FilterReason.AGE),
        ({"age_ranges": [{"min": 18, "max": 24}]}, {}, FilterReason.AGE),
        ({"genders": ["female"]}, {"gender": "male"}, FilterReason.GENDER),
        ({"device_types": ["desktop"]}, {"device_type": "mobile"}, FilterReason.DEVICE),
        ({"operating_systems": ["ios"]}, {"os": "android"}, FilterReason.OS),
        ({"interests": ["travel"]}, {"interests": ["cooking"]}, FilterReason.INTERESTS),
        ({"keywords": ["hiking boots"]}, {"keywords": ["coffee"]}, FilterReason.KEYWORDS),
    ],
)
def test_each_targeting_dimension_filters_with_its_reason(placement, targeting, context, reason):
    group = live_ad_group(targeting=targeting)
    fresh_index()
    decision = engine.decide(ad_request(slot_for(placement), explain=True, **context))
    assert decision.wins == []
    [rejection] = decision.explanations[0].rejections
    assert (rejection.ad_group_id, rejection.reason) == (group.pk, reason)


@pytest.mark.parametrize(
    ("targeting", "context"),
    [
        ({"countries": ["DE", "US"]}, {"country": "US"}),
        ({"countries": ["DE"], "regions": ["US-CA"]}, {"country": "US", "region": "US-CA"}),
        ({"languages": ["en"]}, {"language": "en"}),
        ({"age_ranges": [{"min": 18, "max": 24}, {"min": 35, "max": 44}]}, {"age": 40}),
        ({"genders": ["female"], "device_types": ["mobile"], "operating_systems": ["ios"]},
         {"gender": "female", "device_type": "mobile", "os": "ios"}),
        ({"interests": ["travel", "outdoors"]}, {"interests": ["outdoors", "news"]}),
        ({"keywords": ["hiking boots"]}, {"keywords": ["hiking boots", "tents"]}),
    ],
)  # fmt: skip
def test_matching_targeting_serves(placement, targeting, context):
    group = live_ad_group(targeting=targeting)
    fresh_index()
    assert winners(ad_request(slot_for(placement), **context)) == [group.pk]


def test_placements_include_and_exclude(placement):
    other = PlacementFactory(sizes=["300x250"])
    included = live_ad_group(targeting={"placements_include": [other.pk]})
    excluded = live_ad_group(targeting={"placements_exclude": [placement.pk]})
    fresh_index()
    assert winners(ad_request(slot_for(placement))) == []
    assert set(winners(ad_request(slot_for(other, count=2)))) == {included.pk, excluded.pk}


def test_dayparting_is_read_in_the_advertisers_time_zone(placement):
    # Open on Mondays 09:00-10:00 in New York only.
    grid = [[False] * 24 for _ in range(7)]
    grid[0][9] = True
    group = live_ad_group(targeting={"dayparting": grid})
    fresh_index()
    monday_9_new_york = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 09:30 EST
    assert winners(ad_request(slot_for(placement), at=monday_9_new_york)) == [group.pk]
    assert winners(ad_request(slot_for(placement), at=monday_9_new_york + timedelta(hours=1))) == []


def test_schedule_is_checked_per_request(placement):
    group = live_ad_group(starts_at=timezone.now() + timedelta(hours=1))
    fresh_index()
    assert winners(ad_request(slot_for(placement))) == []
    assert winners(ad_request(slot_for(placement), at=timezone.now() + timedelta(hours=2))) == [group.pk]


def test_only_creatives_that_fit_the_slot_compete(placement):
    live_ad_group(size=(160, 600))
    native = live_ad_group(creative_format=Creative.Format.NATIVE)
    fitting = live_ad_group(size=(728, 90))
    native_placement = PlacementFactory(format=Creative.Format.NATIVE, sizes=[])
    fresh_index()
    assert winners(ad_request(slot_for(placement, count=3))) == [fitting.pk]
    native_slot = slot_for(native_placement)
    assert winners(ad_request(native_slot)) == [native.pk]


def test_ecpm_ranks_cpm_cpc_and_target_cpa_bids(placement):
    # Prior banner pCTR 0.15%, pCVR 3%: a 2.00 CPC is worth 3.00 CPM; a 50.00 CPA is 2.25 CPM.
    cpm = live_ad_group(bid_micros=2_900_000)
    cpc = live_ad_group(
        objective=Objective.TRAFFIC, bid_strategy=BidStrategy.MANUAL_CPC, bid_micros=2_000_000
    )
    cpa = live_ad_group(
        objective=Objective.CONVERSIONS, bid_strategy=BidStrategy.TARGET_CPA, bid_micros=50_000_000
    )
    fresh_index()
    decision = engine.decide(ad_request(slot_for(placement, count=3), explain=True))
    assert [w.ad_group_id for w in decision.wins] == [cpc.pk, cpm.pk, cpa.pk]
    ecpms = {c.ad_group_id: c.ecpm_cpm_micros for c in decision.explanations[0].candidates}
    assert ecpms == {cpc.pk: 3_000_000, cpm.pk: 2_900_000, cpa.pk: 2_250_000}
    prices = [w.price_cpm_micros for w in decision.wins]
    assert prices == [2_900_000, 2_250_000, 500_000]  # generalised second price


def test_an_ad_group_wins_at_most_one_slot_of_a_request(placement):
    group = live_ad_group()
    fresh_index()
    decision = engine.decide(ad_request(slot_for(placement), slot_for(placement)))
    assert [w.ad_group_id for w in decision.wins] == [group.pk]


def test_bids_in_other_currencies_compete_in_usd_and_pay_in_their_own(placement):
    euro = AdvertiserFactory(currency="EUR")
    group = live_ad_group(bid_micros=2_000_000, advertiser=euro)  # 2.00 EUR CPM
    live_ad_group(bid_micros=1_000_000)  # 1.00 USD CPM
    fresh_index()
    [win] = engine.decide(ad_request(slot_for(placement))).wins
    assert win.ad_group_id == group.pk
    assert win.currency == "EUR"
    assert win.bid_cpm_micros > 2_000_000  # a euro is worth more than a dollar
    assert win.price_cpm_micros == 1_000_000
    assert 0 < win.price_micros < 1_000  # 1.00 USD CPM is under 1.00 EUR CPM


def test_publisher_blocks_advertiser_domains_and_categories(placement):
    blocked = live_ad_group(advertiser=AdvertiserFactory(domains=["casino.example"]))
    Creative.objects.filter(ad_group=blocked).update(category="gaming")
    fresh_index()
    request = ad_request(slot_for(placement))
    blocked_domain = type(request)(
        **{
            **{f: getattr(request, f) for f in request.__slots__},
            "blocked_domains": frozenset({"casino.example"}),
        }
    )
    blocked_category = type(request)(
        **{**{f: getattr(request, f) for f in request.__slots__}, "blocked_categories": frozenset({"IAB9"})}
    )
    assert winners(request) == [blocked.pk]
    assert winners(blocked_domain) == []
    assert winners(blocked_category) == []


def test_the_index_holds_only_what_can_serve(placement):
    serving = live_ad_group()
    paused_campaign = live_ad_group()
    Campaign.objects.filter(pk=paused_campaign.campaign_id).update(status=Campaign.Status.PAUSED)
    paused_group = live_ad_group()
    AdGroup.objects.filter(pk=paused_group.pk).update(status=AdGroup.Status.PAUSED)
    suspended = live_ad_group()
    Advertiser.objects.filter(pk=suspended.advertiser_id).update(status=Advertiser.Status.SUSPENDED)
    ended = live_ad_group(ends_at=timezone.now() - timedelta(minutes=1))
    unreviewed = live_ad_group()
    Creative.objects.filter(ad_group=unreviewed).update(review_status=Creative.ReviewStatus.PENDING)
    no_rate = live_ad_group(advertiser=AdvertiserFactory(currency="XAF"))
    snapshot = fresh_index()
    assert set(snapshot.ad_group_ids.tolist()) == {serving.pk}
    assert snapshot.left_out == {
        unreviewed.pk: "No active creative has been approved yet.",
        no_rate.pk: "No exchange rate for XAF.",
    }
    assert ended.pk not in snapshot.row_of_ad_group


def test_changes_bump_the_version_and_processes_rebuild(placement, django_capture_on_commit_callbacks):
    group = live_ad_group()
    fresh_index()
    before = engine.snapshot().version
    with django_capture_on_commit_callbacks(execute=True):
        AdGroup.objects.get(pk=group.pk).pause()
    engine._state.checked_at = 0  # as if a second had passed
    after = engine.snapshot()
    assert after.version > before
    assert after.size == 0


def test_wins_are_recorded_as_decision_events(placement, redis_client):
    group = live_ad_group()
    fresh_index()
    decision = engine.decide(ad_request(slot_for(placement), country="US", device_type="mobile"))
    [(_, fields)] = redis_client.xrange(STREAM)
    event = orjson.loads(fields[b"data"])
    assert fields[b"kind"] == b"decision"
    assert event["event_id"] == decision.wins[0].event_id
    assert event["ad_group_id"] == group.pk
    assert event["price_cpm_micros"] == 500_000
    assert event["country"] == "US"


def test_no_win_records_nothing(placement, redis_client):
    live_ad_group(targeting={"countries": ["DE"]})
    fresh_index()
    assert engine.decide(ad_request(slot_for(placement), country="US")).wins == []
    assert redis_client.xlen(STREAM) == 0


def test_ties_are_deterministic_and_rotate_across_requests(placement):
    groups = {live_ad_group(bid_micros=1_000_000).pk for _ in range(3)}
    fresh_index()
    first = [winners(ad_request(slot_for(placement), request_id=f"r{i}"))[0] for i in range(30)]
    again = [winners(ad_request(slot_for(placement), request_id=f"r{i}"))[0] for i in range(30)]
    assert first == again
    assert set(first) == groups


def test_a_campaign_not_yet_active_does_not_serve(placement):
    campaign = CampaignFactory()
    live_ad_group(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.DRAFT)
    assert fresh_index().size == 0


def test_event_ids_carry_the_time_of_the_request(placement):
    # Simulated traffic of the past lands in its own day's partition: the tables partition by it.
    live_ad_group()
    fresh_index()
    earlier = timezone.now().replace(microsecond=0) - timedelta(hours=12)
    [win] = engine.decide(ad_request(slot_for(placement), at=earlier)).wins
    assert int(win.event_id.replace("-", "")[:12], 16) == int(earlier.timestamp() * 1000)
    assert win.event_id[14] == "7"  # version 7
