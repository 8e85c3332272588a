"""The models bench's world, and ranking compared between scorers on the same traffic.

`build()` creates, on the bench database, the demo world (delivery.demo, what `manage.py seed_demo`
makes: publishers, placements, three advertisers) and beside it twelve campaigns of three more
advertisers (USD; New York, Paris and UTC), so that most requests of the demo placements have several
candidates and the models have something to rank:

- objectives mixed: four awareness campaigns bidding CPM, four traffic ones bidding CPC, four
  conversions ones with a target CPA and their advertiser's conversion event;
- targeting broad (no country, no audience), accelerated pacing, budgets of a million dollars a day
  (10**12 micros) that the history never reaches: the bench measures ranking, not pacing;
- each ad group in one family of the demo placements' formats (display banners, mobile banners,
  native, video), with two or three creatives about different interest segments
  (`Creative.category`; the index maps them to IAB categories), several fitting the same slot, so
  that which creative suits the person matters, as the truth says (delivery.simulator.truth);
- bids a little above the demo floors, the same eCPM at the priors' rates for every ad group that
  fits the same placements (a CPC of eCPM / (1000 x CTR)), so that CPM, CPC and CPA bids all win
  their share of the auctions until a model tells the people apart.

`compare_ranking()` decides the same traffic with each scorer and adds up, from the simulator's
ground truth, what each ranking would earn the advertisers: the clicks and conversions to expect,
per dollar spent. Nothing is written, neither to PostgreSQL nor to Redis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.db import transaction
from numpy.random import PCG64, Generator

from accounts.models import Advertiser
from campaigns.models import (
    AdGroup,
    BidStrategy,
    CallToAction,
    Campaign,
    ConversionEvent,
    Creative,
    Objective,
)
from delivery import auction, demo, engine, fx
from delivery.index import BidKind
from delivery.request import Decision, Win
from delivery.scoring import DEFAULT_PRIOR_CTR, DEFAULT_PRIOR_CVR, Scorer
from delivery.simulator import outcomes, truth
from delivery.simulator import traffic as traffic_module
from delivery.simulator.traffic import Traffic
from delivery.simulator.world import DEFAULT_USERS, KIND_HUMAN, World, load_placements

BANNER, NATIVE, VIDEO = Creative.Format.BANNER, Creative.Format.NATIVE, Creative.Format.VIDEO
BUDGET_MICROS = 10**12  # a million a day: never reached

# The families of ad groups, by the demo placements they fit: (format, width, height) of each creative.
# Display: the leaderboard (728x90), the article MPU (300x250 or 300x600: two creatives fit) and the
# skyscraper (300x600). Mobile: the mobile banner (320x50, 320x100) and the recipes footer (320x50).
# Native: both in-feed placements. Video: the pre-roll.
CREATIVE_SETS: dict[str, tuple[tuple[str, int | None, int | None], ...]] = {
    "display": ((BANNER, 300, 250), (BANNER, 300, 600), (BANNER, 728, 90)),
    "mobile": ((BANNER, 320, 50), (BANNER, 320, 50), (BANNER, 320, 100)),
    "native": ((NATIVE, 1200, 628), (NATIVE, 1200, 628), (NATIVE, 1200, 1200)),
    "video": ((VIDEO, None, None), (VIDEO, None, None)),
}


@dataclass(frozen=True, slots=True)
class BenchAdvertiser:
    name: str
    time_zone: str
    domain: str
    categories: tuple[str, ...]  # what its ads are about: interest segments (Creative.category)


@dataclass(frozen=True, slots=True)
class BenchCampaign:
    name: str
    objective: str
    bid_strategy: str
    creatives: str  # a key of CREATIVE_SETS


ADVERTISERS = (
    BenchAdvertiser("Summit Sports Co.", "America/New_York", "summitsports.example",
                    ("sports", "fitness", "outdoors", "travel")),
    BenchAdvertiser("Maison Verte", "Europe/Paris", "maisonverte.example",
                    ("home_garden", "cooking", "fashion", "beauty")),
    BenchAdvertiser("Circuit Labs", "UTC", "circuitlabs.example",
                    ("technology", "gaming", "finance", "business")),
)  # fmt: skip

CAMPAIGNS = (
    BenchCampaign("Awareness display", Objective.AWARENESS, BidStrategy.MANUAL_CPM, "display"),
    BenchCampaign("Awareness mobile", Objective.AWARENESS, BidStrategy.MANUAL_CPM, "mobile"),
    BenchCampaign("Awareness native", Objective.AWARENESS, BidStrategy.MANUAL_CPM, "native"),
    BenchCampaign("Awareness video", Objective.AWARENESS, BidStrategy.MANUAL_CPM, "video"),
    BenchCampaign("Traffic display", Objective.TRAFFIC, BidStrategy.MANUAL_CPC, "display"),
    BenchCampaign("Traffic mobile", Objective.TRAFFIC, BidStrategy.MANUAL_CPC, "mobile"),
    BenchCampaign("Traffic native", Objective.TRAFFIC, BidStrategy.MANUAL_CPC, "native"),
    BenchCampaign("Traffic display 2", Objective.TRAFFIC, BidStrategy.MANUAL_CPC, "display"),
    BenchCampaign("Sales display", Objective.CONVERSIONS, BidStrategy.TARGET_CPA, "display"),
    BenchCampaign("Sales mobile", Objective.CONVERSIONS, BidStrategy.TARGET_CPA, "mobile"),
    BenchCampaign("Sales native", Objective.CONVERSIONS, BidStrategy.TARGET_CPA, "native"),
    BenchCampaign("Sales video", Objective.CONVERSIONS, BidStrategy.TARGET_CPA, "video"),
)

# What every ad group of a family bids, as an eCPM at the priors' rates (delivery.scoring), in USD
# micros: a little above the floors of the placements it fits (leaderboard 2.50, MPU 1.80, skyscraper
# 1.20; mobile banner 0.60, footer 0.45; native 3.00 and 2.20; pre-roll 12.00). The same for CPM, CPC
# and CPA bids: the priors rank a family's ad groups alike and equal bids take turns (index.tie_keys,
# in unequal shares), so the history shows every campaign, and a model that tells people apart ranks
# them its own way.
FAMILY_ECPM_MICROS = {"display": 2_700_000, "mobile": 900_000, "native": 3_600_000, "video": 14_000_000}
FAMILY_FORMAT = {"display": BANNER, "mobile": BANNER, "native": NATIVE, "video": VIDEO}


def bid_micros(spec: BenchCampaign) -> int:
    """The CPM, CPC or target CPA bid whose eCPM at the priors is the family's."""
    ecpm = FAMILY_ECPM_MICROS[spec.creatives]
    fmt = FAMILY_FORMAT[spec.creatives]
    ctr, cvr = DEFAULT_PRIOR_CTR[fmt], DEFAULT_PRIOR_CVR[fmt]
    if spec.bid_strategy == BidStrategy.MANUAL_CPC:
        return round(ecpm / (ctr * 1000))
    if spec.bid_strategy == BidStrategy.TARGET_CPA:
        return round(ecpm / (ctr * cvr * 1000))
    return ecpm


@dataclass(frozen=True, slots=True)
class ModelWorld:
    advertiser_ids: tuple[int, ...]  # the bench's three advertisers
    campaign_ids: tuple[int, ...]  # their twelve campaigns, in CAMPAIGNS' order
    conversion_event_ids: tuple[int, ...]  # one per advertiser
    creative_ids: tuple[int, ...]
    demo_campaign_ids: tuple[int, ...]  # the demo's active campaigns, bidding beside them


def build(*, now: datetime | None = None) -> ModelWorld:
    """Create the demo world and the bench's campaigns, then rebuild the index."""
    demo.seed()
    now = now or datetime.now(UTC)
    with transaction.atomic():
        world = _build(now - timedelta(days=30))
    engine.rebuild()
    return world


def _build(starts_at: datetime) -> ModelWorld:
    advertisers, events = [], []
    for brand in ADVERTISERS:
        advertiser = Advertiser.objects.create(
            name=brand.name, currency="USD", time_zone=brand.time_zone, domains=[brand.domain]
        )
        advertisers.append(advertiser)
        event = ConversionEvent.objects.create(
            advertiser=advertiser, name="Purchase", category=ConversionEvent.Category.PURCHASE,
            default_value_micros=40_000_000,
        )  # fmt: skip
        events.append(event)
    campaign_ids, creatives = [], []
    for i, spec in enumerate(CAMPAIGNS):
        owner = i % len(ADVERTISERS)
        advertiser, brand = advertisers[owner], ADVERTISERS[owner]
        campaign = Campaign.objects.create(
            advertiser=advertiser, name=spec.name, objective=spec.objective, status=Campaign.Status.ACTIVE,
            budget_micros=BUDGET_MICROS, pacing=Campaign.Pacing.ACCELERATED, starts_at=starts_at,
            conversion_event=events[owner] if spec.objective == Objective.CONVERSIONS else None,
        )  # fmt: skip
        campaign_ids.append(campaign.pk)
        group = AdGroup.objects.create(
            campaign=campaign, name="Everyone", bid_strategy=spec.bid_strategy, bid_micros=bid_micros(spec)
        )
        for j, (fmt, width, height) in enumerate(CREATIVE_SETS[spec.creatives]):
            # Each creative of the group is about another segment of the brand's, shifted per campaign.
            category = brand.categories[(i + j) % len(brand.categories)]
            creatives.append(_creative(advertiser, group, brand, category, fmt, width, height, j))
    # bulk_create: Creative.save() would send a creative without a real image file back to review.
    created = Creative.objects.bulk_create(creatives)
    active = Campaign.objects.filter(status=Campaign.Status.ACTIVE).exclude(pk__in=campaign_ids)
    return ModelWorld(
        advertiser_ids=tuple(a.pk for a in advertisers),
        campaign_ids=tuple(campaign_ids),
        conversion_event_ids=tuple(e.pk for e in events),
        creative_ids=tuple(c.pk for c in created),
        demo_campaign_ids=tuple(active.order_by("pk").values_list("pk", flat=True)),
    )


def _creative(
    advertiser: Advertiser,
    group: AdGroup,
    brand: BenchAdvertiser,
    category: str,
    fmt: str,
    width: int | None,
    height: int | None,
    number: int,
) -> Creative:
    name = f"{category} {fmt} {width}x{height}" if width else f"{category} {fmt}"
    content: dict[str, Any] = {}
    if fmt == VIDEO:
        content["vast_url"] = f"https://media.{brand.domain}/vast/{category}.xml"
    else:
        # Given to the constructor: set afterwards, the image field would read the file for its size.
        content |= {
            "image": f"creatives/bench/{category}-{width}x{height}.png",
            "width": width,
            "height": height,
        }
    if fmt == NATIVE:
        topic = category.replace("_", " ")
        content |= {
            "headline": f"{brand.name}: {topic}"[: Creative.HEADLINE_MAX],
            "body": f"The best of {topic} from {brand.name}.",
            "call_to_action": CallToAction.LEARN_MORE,
        }
    return Creative(
        advertiser=advertiser, ad_group=group, name=name, format=fmt, category=category,
        landing_url=f"https://{brand.domain}/{category}", review_status=Creative.ReviewStatus.APPROVED,
        content_hash=f"bench-{group.pk}-{number}", approved_content_hash=f"bench-{group.pk}-{number}",
        **content,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Ranking, compared


@dataclass(slots=True)
class Totals:
    """What the ads of one kind of bid earned."""

    impressions: int = 0
    spend_usd_micros: float = 0.0  # expected, for ads billed per click
    expected_clicks: float = 0.0
    expected_conversions: float = 0.0

    @property
    def clicks_per_dollar(self) -> float:
        return self.expected_clicks / (self.spend_usd_micros / 1e6) if self.spend_usd_micros else 0.0

    @property
    def conversions_per_dollar(self) -> float:
        return self.expected_conversions / (self.spend_usd_micros / 1e6) if self.spend_usd_micros else 0.0


# What each kind of bid buys: CPM bids impressions, CPC bids clicks, target CPA bids conversions.
GOALS = {
    BidKind.CPM: "impressions",
    BidKind.AUTO: "impressions",
    BidKind.CPC: "clicks",
    BidKind.CPA: "conversions",
}


@dataclass(slots=True)
class RankingResult(Totals):
    """What one scorer's ranking of the same traffic earns, by the ground truth: in all (each ad won
    counted as shown), and for the ads of the bids buying "impressions", "clicks", "conversions"."""

    scorer: str = ""
    requests: int = 0
    by_goal: dict[str, Totals] = field(default_factory=dict)


def compare_ranking(
    scorers: Mapping[str, Scorer],
    *,
    start: datetime,
    hours: int,
    requests_per_hour: int,
    seed: int,
    n_users: int = DEFAULT_USERS,
) -> dict[str, RankingResult]:
    """Decide the same people's requests with each scorer, and add up what the truth expects of the
    ads each ranking shows.

    The gate is the open one (engine.OpenGate) for every run, so that neither budgets nor frequency
    counters differ between them; the scorer and gate in place before are put back after. An ad's
    truth uses the person's earlier ads of the campaign that day in the same run (the fatigue), and
    noise drawn per request and slot from a generator of its own, so that the same ad shown to the
    same person in two runs has the same probabilities. Spend is the auction's price of each ad won,
    billed per click or not (the price the impression clears at, in USD)."""
    world = World.build(seed, load_placements(), n_users=n_users)
    previous_scorer: Scorer | None = None
    previous_gate = engine.set_gate(engine.OpenGate())
    try:
        results = {}
        for name, scorer in scorers.items():
            replaced = engine.set_scorer(scorer)
            previous_scorer = previous_scorer or replaced
            results[name] = _rank(name, world, start=start, hours=hours, volume=requests_per_hour, seed=seed)
        return results
    finally:
        if previous_scorer is not None:
            engine.set_scorer(previous_scorer)
        engine.set_gate(previous_gate)


def _rank(name: str, world: World, *, start: datetime, hours: int, volume: int, seed: int) -> RankingResult:
    traffic_rng = Generator(PCG64([seed, int(start.timestamp())]))  # the same traffic for every scorer
    seen: Counter[tuple[str, int, int]] = Counter()  # (person, campaign, UTC day): ads shown so far
    requests = impressions = spend = 0
    clicks = conversions = 0.0
    by_goal = {goal: Totals() for goal in dict.fromkeys(GOALS.values())}
    snapshot = engine.snapshot()
    for hour in range(hours):
        hour_start = start + timedelta(hours=hour)
        n = traffic_module.hourly_volume(world, hour_start, volume)
        every = traffic_module.traffic_between(
            world, hour_start, hour_start + timedelta(hours=1), n, traffic_rng
        )
        people = every.take(np.flatnonzero(every.kind == KIND_HUMAN))
        decisions = engine.decide_batch(people.requests, record=False)
        noise_rng = Generator(PCG64([seed, int(hour_start.timestamp()), 2]))
        p_click, p_conversion, wins = _truth(seed, people, decisions, seen, noise_rng)
        requests += len(people)
        impressions += len(wins)
        spend += round(
            sum(_expected_charge(win, float(p)) for win, p in zip(wins, p_click.tolist(), strict=True))
        )
        clicks += float(p_click.sum())
        conversions += float((p_click * p_conversion).sum())
        for win, click, conversion in zip(wins, p_click.tolist(), p_conversion.tolist(), strict=True):
            totals = by_goal[GOALS[int(snapshot.bid_kind[snapshot.row_of_ad_group[win.ad_group_id]])]]
            totals.impressions += 1
            totals.spend_usd_micros += _expected_charge(win, click)
            totals.expected_clicks += click
            totals.expected_conversions += click * conversion
    return RankingResult(
        impressions=impressions,
        spend_usd_micros=spend,
        expected_clicks=clicks,
        expected_conversions=conversions,
        scorer=name,
        requests=requests,
        by_goal=by_goal,
    )


def _expected_charge(win: Win, p_click: float) -> float:
    """What the advertiser pays for the ad, in USD micros, as the platform charges it: the impression's
    price when billed per impression; per click the click's price (the impression's over pCTR, never
    above the bid) times the truth's chance of a click."""
    if win.billing_event == "click":
        return p_click * (
            fx.to_usd_micros(auction.click_price_micros(win.price_micros, win.pctr), win.currency) or 0
        )
    return float(fx.to_usd_micros(win.price_micros, win.currency) or 0)


def _truth(
    seed: int,
    people: Traffic,
    decisions: list[Decision],
    seen: Counter[tuple[str, int, int]],
    noise_rng: Generator,
) -> tuple[np.ndarray, np.ndarray, list[Win]]:
    """The truth's probabilities of each ad won (fatigue counted in `seen`), and the ads."""
    # Noise for every (request, place among its ads) of the traffic, whatever is won: the same ad
    # to the same person gets the same noise in every run.
    places = max((sum(slot.count for slot in r.slots) for r in people.requests), default=0)
    click_noise = noise_rng.normal(0.0, truth.CLICK_NOISE_SD, (len(people), places))
    conversion_noise = noise_rng.normal(0.0, truth.CONVERSION_NOISE_SD, (len(people), places))
    request_of, place, wins, exposures = [], [], [], []
    for i, decision in enumerate(decisions):
        request = decision.request
        day = int(request.at.timestamp()) // 86_400
        for k, win in enumerate(decision.wins):
            key = (request.user_key, win.campaign_id, day)
            exposures.append(seen[key])
            seen[key] += 1
            request_of.append(i)
            place.append(k)
            wins.append(win)
    rows, places_of = np.array(request_of, dtype=np.int64), np.array(place, dtype=np.int64)
    p_click, p_conversion = outcomes.probabilities(
        seed, people, rows, wins, engine.snapshot().creatives,
        exposures=np.array(exposures, dtype=np.int64), click_noise=click_noise[rows, places_of],
        conversion_noise=conversion_noise[rows, places_of],
    )  # fmt: skip
    return p_click, p_conversion, wins
