"""The gate before the auction (budget stops, pacing throttle, frequency caps) and the pacing
controller that sets its rates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignDay
from delivery import budget, engine, pacing
from delivery.engine import FilterReason
from delivery.gate import RATE_KEY, opportunities_key
from delivery.tracking import record_impression, tracking_urls
from tests.delivery.serving import ad_request, fresh_index, live_ad_group, slot_for
from tests.factories import PlacementFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]
UNIT = 1_000_000


@pytest.fixture(autouse=True)
def clean_budgets(redis_client):
    budget.forget_redis_state()


@pytest.fixture
def placement():
    return PlacementFactory(floor_cpm_micros=100_000)


def gate_reason(placement, group, **request) -> str | None:
    decision = engine.decide(ad_request(slot_for(placement), explain=True, **request))
    if any(win.ad_group_id == group.pk for win in decision.wins):
        return None
    [explanation] = decision.explanations
    return next(r.reason for r in explanation.rejections if r.ad_group_id == group.pk)


def test_a_campaign_whose_budget_is_spent_does_not_bid_until_the_advertisers_midnight(
    placement, redis_client
):
    group = live_ad_group(budget_micros=10 * UNIT)
    fresh_index()
    now = timezone.now()
    assert gate_reason(placement, group) is None
    budget.charge(
        event_id="0190a000-0000-7000-8000-000000000001", campaign_id=group.campaign_id, ad_group_id=group.pk,
        creative_id=1, amount_micros=10 * UNIT, reason="impression", at=now,
        event_kind=budget.EventKind.IMPRESSION, event={},
    )  # fmt: skip
    assert gate_reason(placement, group) == FilterReason.BUDGET
    tomorrow = budget.next_midnight_ms(now, "America/New_York") / 1000 + 60
    assert gate_reason(placement, group, at=datetime.fromtimestamp(tomorrow, tz=UTC)) is None


def test_raising_the_budget_reopens_from_the_next_request(placement, django_capture_on_commit_callbacks):
    group = live_ad_group(budget_micros=10 * UNIT)
    fresh_index()
    budget.charge(
        event_id="0190a000-0000-7000-8000-000000000002", campaign_id=group.campaign_id, ad_group_id=group.pk,
        creative_id=1, amount_micros=10 * UNIT, reason="impression", at=timezone.now(),
        event_kind=budget.EventKind.IMPRESSION, event={},
    )  # fmt: skip
    assert gate_reason(placement, group) == FilterReason.BUDGET
    with django_capture_on_commit_callbacks(execute=True):
        campaign = Campaign.objects.get(pk=group.campaign_id)
        campaign.budget_micros = 20 * UNIT
        campaign.save()
    assert gate_reason(placement, group) is None


def test_the_pacing_rate_throttles_the_share_of_auctions(placement, redis_client):
    group = live_ad_group()
    fresh_index()
    redis_client.hset(RATE_KEY, str(group.campaign_id), "0.25")
    redis_client.incr(budget.GATE_VERSION_KEY)
    wins = sum(
        bool(engine.decide(ad_request(slot_for(placement), request_id=f"r{i}")).wins) for i in range(800)
    )
    assert 140 < wins < 260  # a quarter of 800, give or take four standard deviations
    redis_client.hset(RATE_KEY, str(group.campaign_id), "0")
    redis_client.incr(budget.GATE_VERSION_KEY)
    assert gate_reason(placement, group) == FilterReason.PACING


def test_a_frequency_cap_filters_a_person_who_saw_the_campaign_enough(placement):
    group = live_ad_group(frequency_cap_impressions=2, frequency_cap_period=Campaign.FrequencyPeriod.DAY)
    fresh_index()
    for n in range(2):
        decision = engine.decide(ad_request(slot_for(placement), request_id=f"seen-{n}"))
        [win] = decision.wins
        token = tracking_urls(win, "https://ads.test", user_key="user-1").impression_url.rsplit("/", 1)[-1]
        assert record_impression(
            token.removesuffix(".gif"), ip="203.0.113.9", user_agent="Mozilla/5.0 Firefox"
        ).counted
    assert gate_reason(placement, group) == FilterReason.FREQUENCY
    # Another person is not capped.
    assert engine.decide(replace(ad_request(slot_for(placement), request_id="other"), user_key="user-2")).wins


def test_the_gate_counts_each_campaigns_opportunities_per_hour(placement, redis_client):
    group = live_ad_group()
    fresh_index()
    gate = engine._state.gate
    for i in range(5):
        engine.decide(ad_request(slot_for(placement), request_id=f"o{i}"))
    pipe = redis_client.pipeline()
    gate.flush(pipe, force=True)
    pipe.execute()
    counts = redis_client.hgetall(opportunities_key(group.campaign_id))
    assert sum(int(v) for v in counts.values()) == 5


# ---------------------------------------------------------------------------------------------------
# The controller


def test_the_plan_follows_the_learned_traffic_in_local_hours():
    zone = ZoneInfo("Asia/Tokyo")
    now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # midnight in Tokyo
    current = int(now.timestamp()) // 3600
    # Two days of traffic: busy at Tokyo's 20:00-21:00 (11:00 UTC), quiet otherwise.
    counts = {hour: (900 if hour % 24 == 11 else 10) for hour in range(current - 48, current)}
    profile = pacing.hourly_profile(counts, zone, now)
    assert profile is not None and abs(sum(profile) - 1) < 1e-9
    assert profile[20] == max(profile) and profile[20] > 0.7
    local = now.astimezone(zone)
    assert pacing.cumulative_share(profile, local + timedelta(hours=20)) == pytest.approx(sum(profile[:20]))
    assert pacing.cumulative_share(profile, local + timedelta(hours=20, minutes=30)) == pytest.approx(
        sum(profile[:20]) + profile[20] / 2
    )
    # Less than a day known: the plan is even.
    assert pacing.hourly_profile({current - 3: 5}, zone, now) is None
    assert pacing.cumulative_share(None, local + timedelta(hours=6)) == pytest.approx(0.25)


def test_a_lifetime_budget_gives_each_remaining_day_an_equal_share():
    info = budget.CampaignBudget(
        campaign_id=1, advertiser_id=1, currency="USD", tz="UTC", budget_type="lifetime",
        budget_micros=100 * UNIT, ends_at=datetime(2026, 11, 25, tzinfo=UTC), billing_click=False,
    )  # fmt: skip
    today = datetime(2026, 11, 21, tzinfo=UTC).date()
    assert pacing.day_budget(info, today, spent_before_today=20 * UNIT) == 20 * UNIT  # 80 over 4 days


def test_the_controller_slows_a_campaign_ahead_of_plan_and_opens_one_behind(redis_client):
    group = live_ad_group(budget_micros=240 * UNIT)  # 10 an hour on an even plan
    campaign = group.campaign
    zone = ZoneInfo(campaign.advertiser.time_zone)
    day_start = datetime.combine(timezone.now().astimezone(zone).date(), datetime.min.time(), zone)
    t = day_start + timedelta(hours=6)
    # Far ahead of the plan (60 planned by 06:00, 150 spent): the rate drops to 0.
    budget.load_budget(campaign.pk, at=t)
    redis_client.set(budget.day_key(campaign.pk, t.date()), 150 * UNIT)
    [update] = pacing.update(now=t, campaign_ids=[campaign.pk])
    assert update.rate == 0.0 and update.planned_micros == 60 * UNIT
    assert float(redis_client.hget(RATE_KEY, str(campaign.pk))) == 0.0
    # Later, behind plan, having spent 10 in the last minute at rate 0.5: k = 10 / (0.5 * 1/1440).
    redis_client.set(budget.day_key(campaign.pk, t.date()), 200 * UNIT)
    state = pacing.state_key(campaign.pk)
    t2 = day_start + timedelta(hours=22)
    redis_client.hset(
        state,
        mapping={
            "rate": "0.5",
            "spent": str(190 * UNIT),
            "at_ms": int((t2 - timedelta(minutes=1)).timestamp() * 1000),
        },
    )
    [update] = pacing.update(now=t2, campaign_ids=[campaign.pk])
    planned_next = 240 * UNIT * (22 * 60 + 1) / 1440
    k = 10 * UNIT / (0.5 / 1440)
    expected = (planned_next - 200 * UNIT) / (k / 1440)
    assert update.rate == pytest.approx(min(1.0, expected), rel=0.05)
    day = CampaignDay.objects.get(campaign=campaign, day=t2.date())
    assert day.spent_micros == 200 * UNIT and day.rate == pytest.approx(update.rate)
    assert len(day.hourly_plan) == 24 and day.hourly_plan[-1] == 240 * UNIT
    assert day.hourly_spent[22] == 200 * UNIT


def test_accelerated_pacing_always_bids(redis_client):
    group = live_ad_group(budget_micros=240 * UNIT, pacing=Campaign.Pacing.ACCELERATED)
    [update] = pacing.update(campaign_ids=[group.campaign_id])
    assert update.rate == 1.0
    assert redis_client.hget(RATE_KEY, str(group.campaign_id)) is None
