"""Pacing quality on a simulated day: standard pacing against an unpaced greedy run, same traffic.

The bench world: eight campaigns bidding CPM on three banner placements, in a ring: each targets two
countries and shares each with a neighbour, so that every auction has two bidders and every campaign
has traffic it can win. The advertiser's day is UTC's. A warm-up day, unconstrained, teaches the
pacing controller each campaign's traffic by hour and counts it; each daily budget then buys 40% of
the campaign's traffic at the floor price, so the day's traffic is well over 1.5 times what the
budgets can buy.

The measured day is played twice over the same requests (same seed, same people, same clock), Redis
emptied in between (only the learned traffic kept): once with every campaign on accelerated pacing
(greedy: bid whenever allowed until the budget stops it), once with standard pacing. The simulator
plays the day minute by minute through the delivery loop's own code (delivery.loop.play: decisions,
then impressions and clicks through the tracking code, which charges), and the pacing controller
runs after each simulated minute, as beat runs it every minute of the clock.

Per campaign and overall, for standard pacing (the issue's bounds):
- overspend: what was delivered over the budget (charged, plus billable events the budget refused,
  which are served at the platform's cost), as a share of the budget: at most 1%;
- utilisation: charged / budget: at least 95%;
- the largest gap between cumulative spend and the plan, sampled every minute: at most 5% of the
  budget;
- cost per click against the greedy run's: no worse. Clicks are counted as the simulator's ground
  truth expects them (the sum of the click probabilities of the ads shown): a day of this bench
  draws only a few hundred clicks, whose noise would hide the difference.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.random import PCG64, Generator

from accounts.models import Advertiser, Agency
from bench.results import Figure, expect
from campaigns.models import AdGroup, BidStrategy, Campaign, Creative, Objective
from delivery import budget, engine, loop, pacing
from delivery.gate import opportunities_key
from delivery.hot import redis_client
from delivery.models import Placement, Publisher
from delivery.simulator import traffic as traffic_module
from delivery.simulator.batches import Batch
from delivery.simulator.outcomes import IMPRESSION_RATE, Tally
from delivery.simulator.world import TrafficPlacement, World

REQUESTS_PER_HOUR = int(os.environ.get("BENCH_PACING_REQUESTS_PER_HOUR", "2400"))
SEED = 17
USERS = 20_000
# Eight campaigns in a ring: each targets two countries, and shares each with a neighbour, so that
# every country has two bidders and every campaign traffic it can win. CPM bids, high and low in turn.
COUNTRIES = ["US", "GB", "FR", "IN", "DE", "JP", "ES", "BR"]
BIDS = [5_000_000, 2_000_000, 4_500_000, 2_500_000, 4_000_000, 3_000_000, 5_500_000, 3_500_000]
# Each daily budget buys this share of the campaign's opportunities at the placements' floor price:
# the day's traffic is more than twice what the budgets can buy, even at the cheapest price.
BUDGET_SHARE = 0.4
FLOOR_CPM_MICROS = 500_000


@dataclass(slots=True)
class Day:
    """One play of the measured day."""

    tally: Tally = field(default_factory=Tally)
    max_gap: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # micros, per campaign
    gap_at: dict[int, str] = field(default_factory=dict)  # when it was largest (HH:MM), and its sign
    seconds: float = 0.0


def build() -> tuple[list[Campaign], list[TrafficPlacement]]:
    agency = Agency.objects.create(name="Pacing bench agency", slug="pacing-bench")
    advertiser = Advertiser.objects.create(
        agency=agency, name="Pacing bench", currency="USD", time_zone="UTC"
    )
    publisher = Publisher.objects.create(name="Pacing bench news", domain="pacing-news.example")
    placements = [
        Placement.objects.create(
            publisher=publisher,
            name=f"MPU {i}",
            key=f"pacing-mpu-{i}",
            format=Creative.Format.BANNER,
            sizes=["300x250"],
            floor_cpm_micros=FLOOR_CPM_MICROS,
            daily_requests=volume,
        )
        for i, volume in enumerate((600_000, 300_000, 100_000))
    ]
    start = datetime.now(UTC) - timedelta(days=5)
    campaigns = []
    for i, bid in enumerate(BIDS):
        campaign = Campaign.objects.create(
            advertiser=advertiser, name=f"Pacing {i}", objective=Objective.AWARENESS,
            status=Campaign.Status.ACTIVE, budget_micros=10**12, pacing=Campaign.Pacing.ACCELERATED,
            starts_at=start,
        )  # fmt: skip
        group = AdGroup.objects.create(
            campaign=campaign,
            name="Two countries",
            bid_strategy=BidStrategy.MANUAL_CPM,
            bid_micros=bid,
            targeting={"countries": [COUNTRIES[i], COUNTRIES[(i + 1) % len(COUNTRIES)]]},
        )
        # bulk_create: Creative.save() would send a creative without a real image back to review.
        Creative.objects.bulk_create(
            [
                Creative(
                    advertiser=advertiser, ad_group=group, name="Banner", format=Creative.Format.BANNER,
                    landing_url="https://example.com/", image="creatives/bench/banner.png", width=300,
                    height=250, review_status=Creative.ReviewStatus.APPROVED, content_hash="bench",
                    approved_content_hash="bench",
                )
            ]
        )  # fmt: skip
        campaigns.append(campaign)
    infos = [TrafficPlacement(info=p.info(), daily_requests=p.daily_requests) for p in placements]
    return campaigns, infos


def play_day(world: World, day: datetime, campaigns: list[Campaign], *, volume: int) -> Day:
    """The day minute by minute through the delivery loop, the pacing controller after each minute."""
    result = Day()
    ids = [c.pk for c in campaigns]
    rng = Generator(PCG64([SEED, int(day.timestamp())]))
    started = time.perf_counter()
    for hour in range(24):
        hour_start = day + timedelta(hours=hour)
        n = traffic_module.hourly_volume(world, hour_start, volume)
        traffic = traffic_module.traffic_between(world, hour_start, hour_start + timedelta(hours=1), n, rng)
        seconds = np.array([(r.at - hour_start).total_seconds() for r in traffic.requests])
        for minute in range(60):
            first, last = np.searchsorted(seconds, [minute * 60, (minute + 1) * 60])
            if last > first:
                batch = Batch("", SEED, traffic.part(int(first), int(last)))
                result.tally.add(loop.play(batch, rng_seed=hour * 60 + minute))
            now = hour_start + timedelta(minutes=minute + 1)
            for update in pacing.update(now=now, campaign_ids=ids):
                gap = abs(update.spent_micros - update.planned_micros)
                if gap > result.max_gap[update.campaign_id]:
                    result.max_gap[update.campaign_id] = gap
                    ahead = "ahead" if update.spent_micros > update.planned_micros else "behind"
                    result.gap_at[update.campaign_id] = f"{now:%H:%M} {ahead}"
    result.seconds = time.perf_counter() - started
    return result


def fresh_redis(opportunities: dict[int, dict[bytes | str, bytes | str]]) -> None:
    """Empty Redis as if the day had not been played, keeping the traffic the controller learned."""
    client = redis_client()
    client.flushdb()
    budget.forget_redis_state()
    pipe = client.pipeline(transaction=False)
    for campaign_id, counts in opportunities.items():
        if counts:
            pipe.hset(opportunities_key(campaign_id), mapping=counts)  # type: ignore[arg-type]
    pipe.execute()


def run() -> list[Figure]:
    others = list(Campaign.objects.filter(status=Campaign.Status.ACTIVE).values_list("id", flat=True))
    Campaign.objects.filter(pk__in=others).update(status=Campaign.Status.PAUSED)  # this bench's world only
    try:
        return _run()
    finally:
        Campaign.objects.filter(pk__in=others).update(status=Campaign.Status.ACTIVE)
        engine.bump_version()


def _run() -> list[Figure]:
    campaigns, placements = build()
    engine.bump_version()
    engine.rebuild()
    world = World.build(SEED, placements, n_users=USERS)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    warm_up, measured = today - timedelta(days=2), today - timedelta(days=1)
    redis_client().flushdb()
    budget.forget_redis_state()

    # Warm-up: unconstrained and unpaced, at a quarter of the volume: the controller learns each
    # campaign's traffic by hour, and the bench how much of it there is.
    play_day(world, warm_up, campaigns, volume=REQUESTS_PER_HOUR // 4)
    client = redis_client()
    opportunities = {c.pk: client.hgetall(opportunities_key(c.pk)) for c in campaigns}
    eligible = {cid: 4 * sum(int(n) for n in counts.values()) for cid, counts in opportunities.items()}
    expect(all(eligible.values()), f"every campaign had traffic in the warm-up: {eligible}")
    budgets = {
        cid: int(n * BUDGET_SHARE * IMPRESSION_RATE * FLOOR_CPM_MICROS / 1000) for cid, n in eligible.items()
    }
    for campaign in campaigns:
        campaign.budget_micros = budgets[campaign.pk]
        campaign.save(update_fields=["budget_micros", "updated_at"])

    plays: dict[str, Day] = {}
    for name, mode in (("greedy", Campaign.Pacing.ACCELERATED), ("paced", Campaign.Pacing.STANDARD)):
        Campaign.objects.filter(pk__in=budgets).update(pacing=mode)
        fresh_redis(opportunities)
        engine.bump_version()
        engine.rebuild()
        plays[name] = play_day(world, measured, campaigns, volume=REQUESTS_PER_HOUR)
    return _figures(campaigns, budgets, plays)


@dataclass(frozen=True, slots=True)
class Row:
    campaign: str
    budget_micros: int
    overspend: float
    utilisation: float
    gap: float
    gap_at: str
    cpc_micros: float  # per expected click (the truth's click probabilities of the ads shown)
    greedy_cpc_micros: float


def _figures(campaigns: list[Campaign], budgets: dict[int, int], plays: dict[str, Day]) -> list[Figure]:
    paced, greedy = plays["paced"], plays["greedy"]
    rows = []
    for campaign in campaigns:
        cid, budget_micros = campaign.pk, budgets[campaign.pk]
        charged = paced.tally.spend[(cid, "USD")]
        delivered = charged + paced.tally.over_budget[(cid, "USD")]
        clicks = paced.tally.expected_clicks[cid] / 1e6
        greedy_clicks = greedy.tally.expected_clicks[cid] / 1e6
        rows.append(
            Row(
                campaign=campaign.name,
                budget_micros=budget_micros,
                overspend=max(0, delivered - budget_micros) / budget_micros,
                utilisation=charged / budget_micros,
                gap=paced.max_gap[cid] / budget_micros,
                gap_at=paced.gap_at.get(cid, ""),
                cpc_micros=charged / clicks if clicks else float("inf"),
                greedy_cpc_micros=greedy.tally.spend[(cid, "USD")] / greedy_clicks
                if greedy_clicks
                else float("inf"),
            )
        )
    print("\npacing, per campaign (standard pacing; greedy alongside):")
    print(
        f"{'campaign':<12}{'budget':>10}{'overspend':>11}{'utilised':>10}{'max gap':>9}"
        f"{'at':>14}{'CPC':>8}{'greedy':>8}"
    )
    for r in rows:
        print(
            f"{r.campaign:<12}{r.budget_micros / 1e6:>10.2f}{r.overspend:>11.2%}{r.utilisation:>10.1%}"
            f"{r.gap:>9.2%}{r.gap_at:>14}{r.cpc_micros / 1e6:>8.3f}{r.greedy_cpc_micros / 1e6:>8.3f}"
        )
    total_budget = sum(budgets.values())
    charged = sum(paced.tally.spend.values())
    delivered = charged + sum(paced.tally.over_budget.values())
    clicks = sum(paced.tally.expected_clicks.values()) / 1e6
    drawn = sum(paced.tally.campaign_clicks.values())
    greedy_charged = sum(greedy.tally.spend.values())
    greedy_clicks = sum(greedy.tally.expected_clicks.values()) / 1e6
    greedy_drawn = sum(greedy.tally.campaign_clicks.values())
    cpc, greedy_cpc = charged / max(clicks, 1), greedy_charged / max(greedy_clicks, 1)
    requests = paced.tally.requests
    note = (
        f"{len(campaigns)} campaigns, budgets buying {BUDGET_SHARE:.0%} of their traffic at the floor "
        f"price, {requests:,} requests over the "
        f"simulated day (played in {paced.seconds:.0f} s)"
    )
    return [
        Figure(
            "pacing: overspend, worst campaign", 100 * max(r.overspend for r in rows), "% of budget",
            target=1.0, note=f"overall {100 * max(0, delivered - total_budget) / total_budget:.2f}%; {note}",
        ),
        Figure(
            "pacing: utilisation, worst campaign", 100 * min(r.utilisation for r in rows), "% of budget",
            minimum=95.0,
            note=f"overall {100 * charged / total_budget:.1f}% "
            f"(greedy {100 * greedy_charged / total_budget:.1f}%)",
        ),
        Figure(
            "pacing: largest gap to the plan, worst campaign",
            100 * max(r.gap for r in rows),
            "% of budget",
            target=5.0, note="cumulative spend against the plan, every simulated minute",
        ),
        Figure(
            "pacing: cost per click, paced vs greedy", cpc / 1e6, "USD/click", baseline=greedy_cpc / 1e6,
            target=greedy_cpc / 1e6 * 1.0001,
            note=f"all campaigns, per click expected from the truth's click probabilities: {clicks:,.0f} "
            f"paced, {greedy_clicks:,.0f} greedy ({drawn:,} and {greedy_drawn:,} drawn); the same requests",
        ),
    ]  # fmt: skip
