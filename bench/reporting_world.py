"""The reporting bench's world, and its raw events written by set-based SQL.

The world: the demo world (delivery.demo) and beside it eight advertisers of our own, in eight time
zones (one half an hour off UTC) and three currencies, with 41 campaigns and 206 creatives, and four
more publishers. With the demo's active campaigns: 11 advertisers, 46 campaigns, 75 ad groups and
217 creatives serve, on 20 placements, in 30 countries, on 4 device types.

The events are not played through the engine: the simulator writes about 4,400 requests a second
(delivery.simulator.history), and ten million rows would take the better part of an hour. They are
drawn in PostgreSQL instead, each decision a pure function of its number `i` (hashes of `i`), so
that the first tenth of the numbers is a fair sample of the whole: the bench measures at one tenth
of the volume, writes the rest, and measures again. The shape follows the simulator's:

- a decision is one (creative, placement, country, device) "cell", drawn by traffic weight: the
  advertisers' shares, campaigns' within them (Zipf-like), ad groups', creatives' (the first creative
  of a group gets most, as the ranking favours its best); a creative fits the placements of its format
  and size, a campaign reaches the countries and devices it targets (the demo's own targeting for its
  campaigns), a placement has its device mix, countries their share of people (the simulator's 19,
  campaigns.audience.COUNTRY_SHARES, and a tail of 11 small ones: 30 in all);
- its time: a day within the campaign's run (most run the whole span, some a few weeks), and a time
  of day from the simulator's diurnal curve (delivery.simulator.traffic.DIURNAL) in the country's
  local time, so that traffic follows the sun as the simulator's does;
- an impression for ~97% of decisions (93% for video), a second or two later; 2% of them invalid
  traffic; a click for 0.4-1.4% of impressions by format and creative (5% of clicks invalid); a
  charge in the ledger for each valid impression of an ad group billed per impression, or each valid
  click of one billed per click (test traffic, 0.1% of decisions, is never charged);
- conversions for the advertisers that track one: 2.5-7% of valid clicks (by objective) and a few
  view-throughs, log-normally minutes to days after the click, worth ~40 in the account currency;
  ~15% reported a day or more late. Credits (overspend given back) for 2% of campaign days.

Raw events, as the bench counts them: every row of delivery_decision, delivery_impression,
delivery_click, campaigns_ledgerentry (charges and credits) and campaigns_conversion: the rows an
hour's rollup reads.
"""

from __future__ import annotations

import os
import time
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from django.db import connection, transaction

from accounts.models import Advertiser, Membership, Role, User
from campaigns.audience import COUNTRY_SHARES, GEOS
from campaigns.models import (
    AdGroup,
    BidStrategy,
    CallToAction,
    Campaign,
    ConversionEvent,
    Creative,
    Objective,
)
from delivery import demo
from delivery.models import Placement, Publisher
from delivery.models.events import ensure_partitions
from delivery.simulator.traffic import DIURNAL

SPAN_DAYS = 60  # an account overview compares 30 days with the 30 before
TARGET_EVENTS = int(os.environ.get("BENCH_REPORTING_EVENTS", "10000000"))
FIRST_SHARE = 0.1  # the first measurement's share of the decisions
SLOTS = 1 << 20  # the draw table: a cell's share of the traffic in 2^-20ths
RAW_TABLES = (
    "delivery_decision",
    "delivery_impression",
    "delivery_click",
    "campaigns_ledgerentry",
    "campaigns_conversion",
)
BANNER, NATIVE, VIDEO = Creative.Format.BANNER, Creative.Format.NATIVE, Creative.Format.VIDEO
OWNER_EMAIL = "reporting-owner@example.com"
OWNER_PASSWORD = "reporting-bench-password"  # noqa: S105 - a bench login on a throwaway database

# The simulator's countries and a tail of small ones, with a representative time zone each.
TAIL_COUNTRIES = {
    "AT": ("Europe/Vienna", 0.006), "DK": ("Europe/Copenhagen", 0.005), "NO": ("Europe/Oslo", 0.005),
    "FI": ("Europe/Helsinki", 0.004), "PT": ("Europe/Lisbon", 0.005), "NZ": ("Pacific/Auckland", 0.004),
    "SG": ("Asia/Singapore", 0.004), "AR": ("America/Argentina/Buenos_Aires", 0.005),
    "KR": ("Asia/Seoul", 0.006), "TR": ("Europe/Istanbul", 0.005), "AE": ("Asia/Dubai", 0.004),
}  # fmt: skip
COUNTRY_ZONES = {
    **{g.country: g.time_zone for g in reversed(GEOS)},
    **{c: z for c, (z, _) in TAIL_COUNTRIES.items()},
}
COUNTRY_WEIGHTS = {**COUNTRY_SHARES, **{c: share for c, (_, share) in TAIL_COUNTRIES.items()}}

# What a placement's visitors browse on, by the sizes it takes.
DEVICE_MIX = {
    "wide": {"desktop": 0.82, "tablet": 0.15, "mobile": 0.03},  # leaderboards, billboards, skyscrapers
    "mpu": {"desktop": 0.48, "mobile": 0.42, "tablet": 0.10},
    "mobile": {"mobile": 0.87, "tablet": 0.13},
    NATIVE: {"mobile": 0.62, "desktop": 0.28, "tablet": 0.10},
    VIDEO: {"desktop": 0.35, "ctv": 0.30, "mobile": 0.25, "tablet": 0.10},
}
OS_BY_DEVICE = {"desktop": "windows", "mobile": "android", "tablet": "ios", "ctv": "other"}

# Four more publishers, three placements each: 20 placements with the demo's eight.
PUBLISHERS = (
    ("Metro Sports Daily", "metrosportsdaily.example", (
        ("Scoreboard leaderboard", BANNER, "2.20", 900_000, ("728x90",)),
        ("Match report MPU", BANNER, "1.60", 1_600_000, ("300x250",)),
        ("Live scores mobile banner", BANNER, "0.50", 2_200_000, ("320x50",)),
    )),
    ("TechPulse", "techpulse.example", (
        ("Review sidebar MPU", BANNER, "2.00", 800_000, ("300x250", "300x600")),
        ("In-article native", NATIVE, "2.80", 600_000, ()),
        ("Unboxing pre-roll", VIDEO, "11.00", 250_000, ()),
    )),
    ("Wanderlust Journal", "wanderlustjournal.example", (
        ("Destination skyscraper", BANNER, "1.40", 400_000, ("160x600", "300x600")),
        ("Trip ideas native", NATIVE, "2.60", 700_000, ()),
        ("App banner", BANNER, "0.55", 1_300_000, ("320x100", "320x50")),
    )),
    ("Family Kitchen", "familykitchen.example", (
        ("Recipe MPU", BANNER, "1.50", 1_900_000, ("300x250",)),
        ("Homepage billboard", BANNER, "2.40", 500_000, ("970x250", "728x90")),
        ("Weeknight video", VIDEO, "10.00", 150_000, ()),
    )),
)  # fmt: skip

# Creative families: the (format, size) of an ad group's creatives, in order; an eCPM in the account
# currency (model_world's, a little above the floors) and a base CTR (the simulator's priors' order).
FAMILIES: dict[str, tuple[tuple[str, str], ...]] = {
    "display": ((BANNER, "300x250"), (BANNER, "728x90"), (BANNER, "300x600"), (BANNER, "160x600"),
                (BANNER, "970x250")),
    "mobile": ((BANNER, "320x50"), (BANNER, "320x100"), (BANNER, "320x50"), (BANNER, "320x100")),
    "native": ((NATIVE, "1200x628"), (NATIVE, "1200x1200"), (NATIVE, "1200x628"), (NATIVE, "1200x628")),
    "video": ((VIDEO, ""), (VIDEO, ""), (VIDEO, "")),
}  # fmt: skip
FAMILY_ECPM_MICROS = {"display": 2_700_000, "mobile": 900_000, "native": 3_600_000, "video": 14_000_000}
FAMILY_CTR = {"display": 0.0055, "mobile": 0.0045, "native": 0.011, "video": 0.014}


@dataclass(frozen=True, slots=True)
class BenchAdvertiser:
    name: str
    time_zone: str
    currency: str
    share: float  # of all the traffic
    campaigns: int
    markets: tuple[tuple[str, ...], ...]  # the countries its ad groups target, in turn (() = anywhere)
    conversion_event: str  # "" when it does not track conversions


ADVERTISERS = (
    BenchAdvertiser("Northstar Outdoor", "America/New_York", "USD", 0.26, 10,
                    (("US",), ("US", "CA"), (), ("US", "CA", "GB", "AU")), "Purchase"),
    BenchAdvertiser("Kestrel Electronics", "America/Los_Angeles", "USD", 0.14, 7,
                    ((), ("US",), ("US", "CA", "MX", "BR", "AR")), "Purchase"),
    BenchAdvertiser("Tidewater Travel", "Europe/London", "GBP", 0.10, 5,
                    (("GB", "IE"), ("GB", "IE", "FR", "ES", "IT", "PT"), ()), "Booking"),
    BenchAdvertiser("Atelier Rive", "Europe/Paris", "EUR", 0.08, 5,
                    (("FR", "BE", "CH"), ("FR", "DE", "IT", "ES", "NL", "AT")), "Purchase"),
    BenchAdvertiser("Sakura Home", "Asia/Tokyo", "USD", 0.06, 4, (("JP",), ("JP", "KR", "SG")), "Sign-up"),
    BenchAdvertiser("Ganges Learning", "Asia/Kolkata", "USD", 0.05, 4, (("IN",), ("IN", "SG", "AE")), "Lead"),
    BenchAdvertiser("Fjord Fitness", "Europe/Stockholm", "EUR", 0.04, 3,
                    (("SE", "NO", "DK", "FI"), ("SE", "DE", "NL", "GB")), ""),
    BenchAdvertiser("Pampas Provisions", "America/Argentina/Buenos_Aires", "USD", 0.03, 3,
                    (("AR",), ("AR", "BR", "MX")), "Purchase"),
)  # fmt: skip
DEMO_SHARE = 0.24  # the demo's active campaigns, together
MEASURED = ADVERTISERS[0].name  # the account whose dashboards the bench asks about
# Campaigns in turn: objective, bid strategy, and the families of their ad groups.
CAMPAIGN_PLAN = (
    (Objective.AWARENESS, BidStrategy.MANUAL_CPM, ("display", "mobile")),
    (Objective.TRAFFIC, BidStrategy.MANUAL_CPC, ("native",)),
    (Objective.CONVERSIONS, BidStrategy.TARGET_CPA, ("display", "native", "mobile")),
    (Objective.AWARENESS, BidStrategy.LOWEST_COST, ("video",)),
    (Objective.TRAFFIC, BidStrategy.MANUAL_CPM, ("mobile", "display")),
    (Objective.CONVERSIONS, BidStrategy.TARGET_CPA, ("native", "mobile")),
    (Objective.TRAFFIC, BidStrategy.MANUAL_CPC, ("display",)),
)


@dataclass(frozen=True, slots=True)
class Cell:
    """One kind of decision: an ad (creative) on a placement for a person of a country and device."""

    creative: Creative
    placement: Placement
    country: str
    device: str
    weight: float
    first_day: int  # the campaign's run within the span, in days from its start
    days: int
    ctr: float
    cvr: float
    family: str


@dataclass(frozen=True)
class Shape:
    """The cells' traffic as arrays, one entry per cell: what the expected rows of a rollup at any
    volume are computed from (`expected_rows`)."""

    share: np.ndarray  # of the decisions
    shown: np.ndarray  # impressions per decision
    advertiser: np.ndarray
    campaign: np.ndarray
    creative: np.ndarray
    offset_hours: np.ndarray  # the country's local time minus UTC, in whole hours
    first_day: np.ndarray  # the campaign's run, in days from the span's start
    days: np.ndarray


@dataclass
class ReportingWorld:
    advertiser: Advertiser  # the measured account
    owner: User  # its admin
    start: datetime  # the span's first UTC midnight
    end: datetime
    decisions: int  # how many decisions make TARGET_EVENTS raw events
    expected_rows_per_decision: float
    cells: int
    described: str  # what serves: advertisers, campaigns, creatives, placements, countries, devices
    shape: Shape
    written_until: int = 0  # decisions [0, written_until) are in the event tables
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def raw_rows(self) -> int:
        return sum(self.counts.values())


# The world ---------------------------------------------------------------------------------------


def build(*, today: date | None = None) -> ReportingWorld:
    """The demo world, the bench's advertisers and their objects, and the draw tables in PostgreSQL."""
    demo.seed()
    today = today or datetime.now(UTC).date()
    end = datetime(today.year, today.month, today.day, tzinfo=UTC)
    start = end - timedelta(days=SPAN_DAYS)
    with transaction.atomic():
        placements = _placements()
        creatives = _objects(start)
        owner = User.objects.create_user(OWNER_EMAIL, OWNER_PASSWORD, full_name="Reporting bench")
        advertiser = Advertiser.objects.get(name=MEASURED)
        Membership.objects.create(user=owner, advertiser=advertiser, role=Role.ADMIN)
    cells = _cells(creatives, placements)
    rows_per_decision, shape = _load_cells(cells, start)
    return ReportingWorld(
        advertiser=advertiser,
        owner=owner,
        start=start,
        end=end,
        decisions=round(TARGET_EVENTS / rows_per_decision),
        expected_rows_per_decision=rows_per_decision,
        cells=len(cells),
        described=_describe(cells),
        shape=shape,
    )


def _describe(cells: list[Cell]) -> str:
    def distinct(value: Callable[[Cell], object]) -> int:
        return len({value(cell) for cell in cells})

    return (
        f"{distinct(lambda c: c.creative.advertiser_id)} advertisers, "
        f"{distinct(lambda c: c.creative.ad_group.campaign_id)} campaigns, "
        f"{distinct(lambda c: c.creative.ad_group_id)} ad groups, {distinct(lambda c: c.creative.pk)} "
        f"creatives, {distinct(lambda c: c.placement.pk)} placements, {distinct(lambda c: c.country)} "
        f"countries, {distinct(lambda c: c.device)} device types serving"
    )


def _placements() -> list[Placement]:
    for name, domain, specs in PUBLISHERS:
        publisher = Publisher.objects.create(name=name, domain=domain)
        for placement_name, fmt, floor, daily, sizes in specs:
            Placement.objects.create(
                publisher=publisher, name=placement_name, key=f"{domain.split('.')[0]}-{placement_name}"
                .lower().replace(" ", "-"), format=fmt, sizes=list(sizes),
                floor_cpm_micros=round(float(floor) * 1e6), daily_requests=daily,
            )  # fmt: skip
    return list(Placement.objects.active().select_related("publisher").order_by("pk"))


def _objects(start: datetime) -> list[tuple[Creative, str, tuple[int, int]]]:
    """The bench advertisers' campaigns, ad groups and creatives (all approved and active); returns
    every creative that serves (the demo's active ones too), with its family and run (first day, days)."""
    rng = np.random.default_rng(11)
    out = []
    for n, spec in enumerate(ADVERTISERS):
        advertiser = Advertiser.objects.create(
            name=spec.name, currency=spec.currency, time_zone=spec.time_zone,
            domains=[f"{spec.name.lower().replace(' ', '')}.example"],
        )  # fmt: skip
        event = None
        if spec.conversion_event:
            event = ConversionEvent.objects.create(
                advertiser=advertiser, name=spec.conversion_event, category=ConversionEvent.Category.PURCHASE,
                default_value_micros=40_000_000,
            )  # fmt: skip
        for j in range(spec.campaigns):
            objective, strategy, families = CAMPAIGN_PLAN[(j + n) % len(CAMPAIGN_PLAN)]
            # Most campaigns run the whole span; every third, a few weeks of it.
            run = (0, SPAN_DAYS) if j % 3 != 2 else (int(rng.integers(0, 35)), int(rng.integers(12, 26)))
            campaign = Campaign.objects.create(
                advertiser=advertiser, name=f"{spec.name.split()[0]} {objective.label} {j + 1}",
                objective=objective, status=Campaign.Status.ACTIVE, budget_micros=10**12,
                starts_at=start + timedelta(days=run[0]),
                conversion_event=event if objective == Objective.CONVERSIONS else None,
            )  # fmt: skip
            for g, family in enumerate(families):
                countries = spec.markets[(j + g) % len(spec.markets)]
                bid = None if strategy == BidStrategy.LOWEST_COST else _bid(strategy, family)
                group = AdGroup.objects.create(
                    campaign=campaign, name=f"{family.title()} {g + 1}", bid_strategy=strategy,
                    bid_micros=bid, targeting={"countries": list(countries)} if countries else {},
                )  # fmt: skip
                sizes = FAMILIES[family][: 2 + (j + g) % 3]
                made = Creative.objects.bulk_create(
                    _creative(advertiser, group, family, fmt, size, k) for k, (fmt, size) in enumerate(sizes)
                )
                out += [(creative, family, run) for creative in made]
    demo_creatives = (
        Creative.objects.filter(
            review_status=Creative.ReviewStatus.APPROVED,
            ad_group__campaign__status=Campaign.Status.ACTIVE,
            ad_group__campaign__advertiser__name__in=[a.name for a in demo.ADVERTISERS],
        )
        .select_related("ad_group__campaign__advertiser")
        .order_by("pk")
    )
    for creative in demo_creatives:
        family = "video" if creative.format == VIDEO else "native" if creative.format == NATIVE else (
            "mobile" if (creative.width or 0) <= 320 else "display"
        )  # fmt: skip
        out.append((creative, family, (0, SPAN_DAYS)))
    return out


def _bid(strategy: str, family: str) -> int:
    ecpm = FAMILY_ECPM_MICROS[family]
    if strategy == BidStrategy.MANUAL_CPC:
        return round(ecpm / (FAMILY_CTR[family] * 1000))
    if strategy == BidStrategy.TARGET_CPA:
        return round(ecpm / (FAMILY_CTR[family] * 0.06 * 1000))
    return ecpm


def _creative(advertiser: Advertiser, group: AdGroup, family: str, fmt: str, size: str, k: int) -> Creative:
    content: dict[str, Any] = {}
    if fmt == VIDEO:
        content["vast_url"] = f"https://media.{advertiser.domains[0]}/vast/{group.pk}-{k}.xml"
    else:
        width, height = (int(v) for v in size.split("x"))
        content |= {"image": f"creatives/bench/{family}-{size}.png", "width": width, "height": height}
    if fmt == NATIVE:
        content |= {
            "headline": f"{advertiser.name} {k + 1}",
            "body": "Bench.",
            "call_to_action": CallToAction.LEARN_MORE,
        }
    return Creative(
        advertiser=advertiser, ad_group=group, name=f"{family.title()} {size or 'video'} {k + 1}", format=fmt,
        category="shopping", landing_url=f"https://{advertiser.domains[0]}/{family}",
        review_status=Creative.ReviewStatus.APPROVED, content_hash=f"bench-{group.pk}-{k}",
        approved_content_hash=f"bench-{group.pk}-{k}", **content,
    )  # fmt: skip


def _fits(creative: Creative, placement: Placement) -> bool:
    if creative.format != placement.format:
        return False
    return creative.format != BANNER or f"{creative.width}x{creative.height}" in placement.sizes


def _device_mix(placement: Placement) -> dict[str, float]:
    if placement.format != BANNER:
        return DEVICE_MIX[placement.format]
    width = int(placement.sizes[0].split("x")[0])
    if width <= 320:
        return DEVICE_MIX["mobile"]
    return DEVICE_MIX["mpu"] if placement.sizes[0] == "300x250" else DEVICE_MIX["wide"]


def _cells(creatives: list[tuple[Creative, str, tuple[int, int]]], placements: list[Placement]) -> list[Cell]:
    """Every (creative, placement, country, device) with its share of the traffic."""
    rng = np.random.default_rng(12)
    shares = {spec.name: spec.share for spec in ADVERTISERS}
    demo_campaigns = {
        c.ad_group.campaign_id for c, _, _ in creatives if c.ad_group.campaign.advertiser.name not in shares
    }
    # Campaign weights: Zipf-like within the advertiser, in the order they were created.
    by_advertiser: dict[int, list[int]] = {}
    for creative, _, _ in creatives:
        campaigns = by_advertiser.setdefault(creative.advertiser_id, [])
        if creative.ad_group.campaign_id not in campaigns:
            campaigns.append(creative.ad_group.campaign_id)
    groups: dict[int, list[int]] = {}
    group_creatives: dict[int, list[int]] = {}
    for creative, _, _ in creatives:
        listed = groups.setdefault(creative.ad_group.campaign_id, [])
        if creative.ad_group_id not in listed:
            listed.append(creative.ad_group_id)
        group_creatives.setdefault(creative.ad_group_id, []).append(creative.pk)
    cells = []
    for creative, family, (first_day, days) in creatives:
        group = creative.ad_group
        campaign = group.campaign
        advertiser_name = campaign.advertiser.name
        campaigns = by_advertiser[creative.advertiser_id]
        campaign_weight = _zipf(campaigns.index(campaign.pk), len(campaigns), 0.8)
        if campaign.pk in demo_campaigns:
            weight = DEMO_SHARE / len(demo_campaigns)
        else:
            weight = shares[advertiser_name] * campaign_weight
        listed = groups[campaign.pk]
        weight *= _zipf(listed.index(group.pk), len(listed), 1.0)
        siblings = group_creatives[group.pk]
        weight *= _zipf(siblings.index(creative.pk), len(siblings), 1.2) * rng.lognormal(0, 0.3)
        targeting = group.targeting or {}
        countries = [c for c in targeting.get("countries") or COUNTRY_WEIGHTS if c in COUNTRY_WEIGHTS]
        devices = set(targeting.get("device_types") or DEVICE_MIX["video"])
        only = set(targeting.get("placements_include") or [])
        fitting = [p for p in placements if _fits(creative, p) and (not only or p.pk in only)]
        total_daily = sum(p.daily_requests for p in fitting)
        ctr = FAMILY_CTR[family] * float(rng.lognormal(0, 0.3))
        cvr = 0.07 if campaign.objective == Objective.CONVERSIONS else 0.025
        country_total = sum(COUNTRY_WEIGHTS[c] for c in countries)
        for placement in fitting:
            mix = {d: s for d, s in _device_mix(placement).items() if d in devices}
            mix_total = sum(mix.values())
            for country in countries:
                for device, share in mix.items():
                    cells.append(
                        Cell(
                            creative=creative, placement=placement, country=country, device=device,
                            weight=weight * placement.daily_requests / total_daily
                            * COUNTRY_WEIGHTS[country] / country_total * share / mix_total,
                            first_day=first_day, days=days, ctr=ctr, cvr=cvr, family=family,
                        )
                    )  # fmt: skip
    return cells


def _zipf(rank: int, n: int, s: float) -> float:
    weights = [1 / (k + 1) ** s for k in range(n)]
    return weights[rank] / sum(weights)


def _slots(weights: np.ndarray) -> np.ndarray:
    """Each cell's number of slots out of SLOTS, by largest remainder."""
    exact = weights / weights.sum() * SLOTS
    slots = np.floor(exact).astype(np.int64)
    short = SLOTS - int(slots.sum())
    slots[np.argsort(slots - exact)[:short]] += 1
    return slots


def _offset_seconds(zone: str, at: datetime) -> int:
    offset = at.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _load_cells(cells: list[Cell], start: datetime) -> tuple[float, Shape]:
    """The cells and the draw table into PostgreSQL; returns the raw rows a decision makes on average,
    and the cells' shape."""
    slots = _slots(np.array([c.weight for c in cells]))
    middle = start + timedelta(days=SPAN_DAYS // 2)
    events = {
        e.advertiser_id: e
        for e in ConversionEvent.objects.filter(is_active=True).order_by("-pk")  # the first one wins
    }
    rows = []
    lo = 0
    expected = 0.0
    for n, (cell, count) in enumerate(zip(cells, slots.tolist(), strict=True)):
        creative, placement = cell.creative, cell.placement
        group = creative.ad_group
        campaign = group.campaign
        advertiser = campaign.advertiser
        event = campaign.conversion_event or events.get(advertiser.pk)
        billing = "click" if group.bid_strategy == BidStrategy.MANUAL_CPC else "impression"
        ecpm = FAMILY_ECPM_MICROS[cell.family]
        shown = 0.93 if cell.family == "video" else 0.972
        charged = shown * 0.98 * 0.999 if billing == "impression" else shown * cell.ctr * 0.95 * 0.999
        converted = shown * cell.ctr * 0.95 * cell.cvr + shown * 0.98 * 0.0002 if event else 0.0
        expected += count / SLOTS * (1 + shown + shown * cell.ctr + charged + converted)
        rows.append((
            n, lo, lo + count, advertiser.pk, campaign.pk, group.pk, creative.pk, placement.pk,
            placement.publisher_id, cell.country, cell.device, OS_BY_DEVICE[cell.device],
            _offset_seconds(COUNTRY_ZONES[cell.country], middle), cell.first_day, cell.days,
            advertiser.currency, billing, ecpm // 1000, round(ecpm / (cell.ctr * 1000)), ecpm, cell.ctr,
            cell.cvr, event.pk if event else None,
            bool(event and event.counting == ConversionEvent.Counting.ONE), advertiser.time_zone,
            cell.family == "video",
        ))  # fmt: skip
        lo += count
    with connection.cursor() as cursor:
        cursor.execute(_DRAW_TABLES)
        with cursor.copy(f"COPY bench_reporting_cell ({_CELL_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            "INSERT INTO bench_reporting_pick SELECT s, cell FROM bench_reporting_cell, "
            "generate_series(slot_lo, slot_hi - 1) s"
        )
        cursor.execute("ANALYZE bench_reporting_cell; ANALYZE bench_reporting_pick")
    shape = Shape(
        share=slots / SLOTS,
        shown=np.array([0.93 if c.family == "video" else 0.972 for c in cells]),
        advertiser=np.array([c.creative.advertiser_id for c in cells]),
        campaign=np.array([c.creative.ad_group.campaign_id for c in cells]),
        creative=np.array([c.creative.pk for c in cells]),
        offset_hours=np.array([row[12] for row in rows]) / 3600,
        first_day=np.array([c.first_day for c in cells]),
        days=np.array([c.days for c in cells]),
    )
    return expected, shape


_CELL_COLUMNS = (
    "cell, slot_lo, slot_hi, advertiser_id, campaign_id, ad_group_id, creative_id, placement_id, "
    "publisher_id, country, device_type, os, tz_offset_s, first_day, days, currency, billing, "
    "price_micros, cpc_micros, bid_cpm_micros, ctr, cvr, conversion_event_id, one_per_click, "
    "advertiser_tz, video"
)
_DRAW_TABLES = """
    CREATE UNLOGGED TABLE bench_reporting_cell (
        cell int PRIMARY KEY, slot_lo int, slot_hi int, advertiser_id bigint, campaign_id bigint,
        ad_group_id bigint, creative_id bigint, placement_id bigint, publisher_id bigint, country text,
        device_type text, os text, tz_offset_s int, first_day int, days int, currency text, billing text,
        price_micros bigint, cpc_micros bigint, bid_cpm_micros bigint, ctr float8, cvr float8,
        conversion_event_id bigint, one_per_click bool, advertiser_tz text, video bool
    );
    CREATE UNLOGGED TABLE bench_reporting_pick (slot int PRIMARY KEY, cell int NOT NULL);
    -- A uniform number in [0, 1) from the decision's number and a stream number: the same each run.
    CREATE FUNCTION bench_reporting_u(i bigint, k int) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
    $$ SELECT (hashint8extended(i, k) & 4503599627370495)::float8 / 4503599627370496.0 $$;
"""


# The events ---------------------------------------------------------------------------------------


def _diurnal_quantiles() -> str:
    """The local hour at each thousandth of the diurnal curve: the hour of a decision is
    this array at a uniform draw (an SQL array literal)."""
    cumulative = np.cumsum(DIURNAL) / DIURNAL.sum()
    hours = np.searchsorted(cumulative, (np.arange(1000) + 0.5) / 1000, side="right")
    return "ARRAY[" + ",".join(str(int(h)) for h in np.minimum(hours, 23)) + "]"


@dataclass(frozen=True, slots=True)
class Written:
    decisions: tuple[int, int]  # [first, last) decision numbers
    counts: dict[str, int]  # rows added per table
    seconds: float


def write(world: ReportingWorld, until: int, *, late: bool = True) -> Written:
    """Write decisions [world.written_until, until) and what followed them. With `late` False the
    conversions reported a day or more late are held back (write_late writes them)."""
    first = world.written_until
    began = time.perf_counter()
    ensure_partitions(_days(world.start, world.end))
    before = _counts()
    params: dict[str, Any] = {"first": first, "last": until, "start": world.start, "end": world.end}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("DROP TABLE IF EXISTS bench_reporting_draw")
        cursor.execute(_DRAW.replace("DIURNAL", _diurnal_quantiles()), params)
        cursor.execute("ANALYZE bench_reporting_draw")
        for statement in (_DECISIONS, _IMPRESSIONS, _CLICKS, _CHARGES):
            cursor.execute(statement)
        cursor.execute(_CONVERSIONS + ("" if late else " AND NOT d.late"))
        # Credits: for 2% of campaign days, one credit per tenth of the decision numbers written.
        tenths = list(range(round(first / world.decisions * 10), round(until / world.decisions * 10)))
        cursor.execute(_CREDITS, {**params, "tenths": tenths})
    world.written_until = until
    counts = {table: n - before[table] for table, n in _counts().items()}
    for table, n in counts.items():
        world.counts[table] = world.counts.get(table, 0) + n
    return Written((first, until), counts, time.perf_counter() - began)


def write_late(world: ReportingWorld) -> int:
    """The held-back late conversions of the last write; returns how many."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CONVERSIONS + " AND d.late")
        added = cursor.rowcount
        cursor.execute("DROP TABLE bench_reporting_draw")
    world.counts["campaigns_conversion"] += added
    return added


def drop_draw_tables() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TABLE IF EXISTS bench_reporting_draw, bench_reporting_pick, bench_reporting_cell; "
            "DROP FUNCTION IF EXISTS bench_reporting_u(bigint, int)"
        )


def _counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        out = {}
        for table in RAW_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - a constant name
            out[table] = cursor.fetchone()[0]
    return out


def _days(start: datetime, end: datetime) -> Iterator[date]:
    day = start.date()
    while datetime(day.year, day.month, day.day, tzinfo=UTC) < end:
        yield day
        day += timedelta(days=1)


# Each decision from its number i: its cell (a slot of the pick table), its time, and what followed.
# u(i, k) are independent uniforms; z1, z2 a pair of normal draws (Box-Muller) for the conversion's
# delay and value.
_DRAW = """
    CREATE UNLOGGED TABLE bench_reporting_draw AS
    WITH drawn AS (
        SELECT i, p.cell, c.video, c.billing, c.ctr, c.cvr, c.conversion_event_id,
               c.price_micros AS cell_price, c.cpc_micros,
               %(start)s::timestamptz
                 + ((c.first_day + floor(bench_reporting_u(i, 2) * c.days)) * 86400
                    + (DIURNAL)[1 + floor(bench_reporting_u(i, 3) * 1000)::int] * 3600
                    + bench_reporting_u(i, 4) * 3600 - c.tz_offset_s) * interval '1 second' AS t,
               bench_reporting_u(i, 5) < 0.001 AS test,
               bench_reporting_u(i, 6) < CASE WHEN c.video THEN 0.93 ELSE 0.972 END AS shown,
               bench_reporting_u(i, 7) < 0.02 AS shown_invalid,
               bench_reporting_u(i, 9) AS click_draw,
               bench_reporting_u(i, 10) < 0.05 AS click_invalid,
               bench_reporting_u(i, 12) AS conversion_draw,
               sqrt(-2 * ln(1 - bench_reporting_u(i, 13))) AS radius,
               2 * pi() * bench_reporting_u(i, 14) AS angle,
               bench_reporting_u(i, 15) < 0.15 AS late_draw,
               bench_reporting_u(i, 16) AS delay_draw,
               bench_reporting_u(i, 17) AS price_draw,
               bench_reporting_u(i, 8) AS shown_draw,
               bench_reporting_u(i, 11) AS click_delay_draw
        FROM generate_series(%(first)s::bigint, %(last)s::bigint - 1) AS i
        JOIN bench_reporting_pick p ON p.slot = (hashint8extended(i, 1) & 1048575)
        JOIN bench_reporting_cell c ON c.cell = p.cell
    ), timed AS (
        SELECT *, date_trunc('milliseconds',
                  CASE WHEN t < %(start)s THEN t + interval '1 day'
                       WHEN t >= %(end)s THEN t - interval '1 day' ELSE t END) AS decided_at
        FROM drawn
    ), events AS (
        SELECT *, CASE WHEN shown THEN decided_at + (300 + shown_draw * 2200) * interval '1 millisecond'
                  END AS shown_at,
               shown AND click_draw < ctr AS clicked
        FROM timed
    ), outcomes AS (
        SELECT *, CASE WHEN clicked THEN shown_at + (2 + click_delay_draw * 88) * interval '1 second' END
                  AS clicked_at,
               CASE WHEN conversion_event_id IS NULL OR test THEN 0
                    WHEN clicked AND NOT click_invalid THEN (conversion_draw < cvr)::int
                    WHEN shown AND NOT shown_invalid AND NOT clicked THEN 2 * (conversion_draw < 0.0002)::int
                    ELSE 0 END AS converted
        FROM events
    )
    SELECT i, cell, test, decided_at,
           (lpad(to_hex((extract(epoch FROM decided_at) * 1000)::bigint), 12, '0') || '70008'
            || lpad(to_hex(i), 15, '0'))::uuid AS event_id,
           round(cell_price * (0.7 + 0.3 * price_draw))::bigint AS price_micros,
           shown_at, shown_invalid, clicked_at, click_invalid OR shown_invalid AS click_invalid,
           CASE WHEN test THEN 0
                WHEN billing = 'impression' AND shown AND NOT shown_invalid
                  THEN round(cell_price * (0.7 + 0.3 * price_draw))::bigint
                WHEN billing = 'click' AND clicked AND NOT (click_invalid OR shown_invalid)
                  THEN round(cpc_micros * (0.6 + 0.4 * price_draw))::bigint
                ELSE 0 END AS charge_micros,
           converted,
           least(exp(ln(1800) + 1.6 * radius * cos(angle)), 6 * 86400) * interval '1 second'
             AS conversion_delay,
           late_draw AS late,
           CASE WHEN late_draw THEN (86400 + delay_draw * 2 * 86400) ELSE 5 + delay_draw * 300 END
             * interval '1 second' AS report_delay,
           round(exp(ln(40) + 0.8 * radius * sin(angle)) * 1e6)::bigint AS value_micros
    FROM outcomes
    ORDER BY decided_at
"""

_DECISIONS = """
    INSERT INTO delivery_decision (
        event_id, decided_at, at, request_id, source, slot_id, placement_id, advertiser_id, campaign_id,
        ad_group_id, creative_id, user_key, country, device_type, os, region, language, age, gender,
        interests, keywords, publisher_id, exposures, bid_cpm_micros, price_cpm_micros, price_micros,
        currency, billing_event, pctr, pcvr, test)
    SELECT d.event_id, d.decided_at, d.decided_at, 'bench-' || d.i, 'simulator', '1', c.placement_id,
           c.advertiser_id, c.campaign_id, c.ad_group_id, c.creative_id,
           'bench-' || (hashint8extended(d.i, 30) & 262143), c.country, c.device_type, c.os, '', '', NULL,
           '', '', '', c.publisher_id, 0, c.bid_cpm_micros, d.price_micros * 1000, d.price_micros,
           c.currency, c.billing, c.ctr, c.cvr, d.test
    FROM bench_reporting_draw d JOIN bench_reporting_cell c USING (cell)
"""
_IMPRESSIONS = """
    INSERT INTO delivery_impression (event_id, decided_at, at, ip, user_agent, ivt_reason)
    SELECT event_id, decided_at, shown_at, NULL, 'bench',
           CASE WHEN shown_invalid THEN 'data_center' ELSE '' END
    FROM bench_reporting_draw WHERE shown_at IS NOT NULL
"""
_CLICKS = """
    INSERT INTO delivery_click (event_id, decided_at, at, ip, user_agent, ivt_reason, had_impression)
    SELECT event_id, decided_at, clicked_at, NULL, 'bench',
           CASE WHEN click_invalid THEN 'click_spam' ELSE '' END, true
    FROM bench_reporting_draw WHERE clicked_at IS NOT NULL
"""
_CHARGES = """
    INSERT INTO campaigns_ledgerentry (
        event_id, kind, reason, advertiser_id, campaign_id, ad_group_id, creative_id, amount_micros, currency,
        day, at, decided_at)
    SELECT d.event_id, 'charge', c.billing, c.advertiser_id, c.campaign_id, c.ad_group_id, c.creative_id,
           d.charge_micros, c.currency, (charged.at AT TIME ZONE c.advertiser_tz)::date, charged.at,
           d.decided_at
    FROM bench_reporting_draw d JOIN bench_reporting_cell c USING (cell)
    CROSS JOIN LATERAL (
        SELECT CASE WHEN c.billing = 'click' THEN d.clicked_at ELSE d.shown_at END AS at
    ) charged
    WHERE d.charge_micros > 0
"""
_CONVERSIONS = """
    INSERT INTO campaigns_conversion (
        advertiser_id, conversion_event_id, event_id, occurred_at, received_at, value_micros, currency,
        click_id, user_key, source, test, ip, attribution, attributed_event_id, campaign_id, ad_group_id,
        creative_id, touch_at, one_per_click_key)
    SELECT c.advertiser_id, c.conversion_event_id, 'bench-' || d.i, touch.at + d.conversion_delay,
           touch.at + d.conversion_delay + d.report_delay, d.value_micros, c.currency,
           CASE WHEN d.converted = 1 THEN d.event_id END, '', 'postback', false, NULL,
           CASE WHEN d.converted = 1 THEN 'click' ELSE 'view' END, d.event_id, c.campaign_id, c.ad_group_id,
           c.creative_id, touch.at, CASE WHEN c.one_per_click THEN d.event_id END
    FROM bench_reporting_draw d JOIN bench_reporting_cell c USING (cell)
    CROSS JOIN LATERAL (SELECT CASE WHEN d.converted = 1 THEN d.clicked_at ELSE d.shown_at END AS at) touch
    WHERE d.converted > 0
"""
_CREDITS = """
    INSERT INTO campaigns_ledgerentry (
        event_id, kind, reason, advertiser_id, campaign_id, amount_micros, currency, day, at)
    SELECT gen_random_uuid(), 'credit', 'over_daily_budget', k.advertiser_id, k.campaign_id,
           round(500000 + bench_reporting_u(k.campaign_id * 100000 + day * 10 + tenth, 40) * 4500000)::bigint,
           k.currency, (at AT TIME ZONE k.advertiser_tz)::date, at
    FROM (SELECT DISTINCT advertiser_id, campaign_id, currency, advertiser_tz, first_day, days
          FROM bench_reporting_cell) k
    CROSS JOIN LATERAL generate_series(k.first_day, k.first_day + k.days - 1) AS day
    CROSS JOIN unnest(%(tenths)s::int[]) AS tenth
    CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + day * interval '1 day' + interval '21 hours'
                               + bench_reporting_u(k.campaign_id * 100000 + day * 10 + tenth, 41)
                                 * interval '2 hours' AS at) credited
    WHERE bench_reporting_u(k.campaign_id * 100000 + day * 10 + tenth, 42) < 0.002
"""


def busiest_hours(n: int) -> list[tuple[datetime, int]]:
    """The n hours with the most impressions, with their raw rows (decisions, impressions, clicks,
    charges and conversions of the hour)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT date_trunc('hour', at) AS hour, count(*) FROM delivery_impression
            GROUP BY 1 ORDER BY 2 DESC LIMIT %s
            """,
            [n],
        )
        hours = [row[0] for row in cursor.fetchall()]
        out = []
        for hour in hours:
            total = 0
            for table, column in (
                ("delivery_decision", "decided_at"), ("delivery_impression", "at"), ("delivery_click", "at"),
                ("campaigns_ledgerentry", "at"), ("campaigns_conversion", "touch_at"),
            ):  # fmt: skip
                cursor.execute(
                    f"SELECT count(*) FROM {table} WHERE {column} >= %s AND {column} < %s",  # noqa: S608
                    [hour, hour + timedelta(hours=1)],
                )
                total += cursor.fetchone()[0]
            out.append((hour, total))
    return out


# The expected rows of a rollup ----------------------------------------------------------------------

# Each grain's key (a cell: creative x placement x country x device; or a creative) and its bucket.
GRAINS = {
    "reporting_hourly": ("cell", "hour"),
    "reporting_creative_hourly": ("creative", "hour"),
    "reporting_creative_daily": ("creative", "day"),
    "reporting_daily": ("cell", "day"),
}


def expected_rows(
    shape: Shape,
    decisions: float,
    table: str,
    *,
    first_day: int = 0,
    last_day: int = SPAN_DAYS - 1,
    advertiser: int | None = None,
    campaign: int | None = None,
) -> float:
    """The rows a rollup table is expected to hold for `decisions` decisions, over the span's days
    [first_day, last_day] (hourly tables: those UTC days' hours), for one account or campaign.

    A row is a (time bucket, key) with at least one impression; a key's impressions in a bucket
    are a Poisson count of mean decisions x its cells' share x impressions per decision x the
    bucket's share of the campaign's run (a day of its run; an hour: that, times the diurnal
    curve's share of the hour in the country's local time). So a row exists with probability
    1 - exp(-mean). Clicks, charges and conversions nearly always fall in their impression's hour
    and add no rows; credits (a few hundred) are left out."""
    keep = np.ones(len(shape.share), dtype=bool)
    if advertiser is not None:
        keep &= shape.advertiser == advertiser
    if campaign is not None:
        keep &= shape.campaign == campaign
    days = np.arange(first_day, last_day + 1)
    per_day = (decisions * shape.share[keep] * shape.shown[keep] / shape.days[keep])[:, None] * (
        (days[None, :] >= shape.first_day[keep, None])
        & (days[None, :] < (shape.first_day + shape.days)[keep, None])
    )
    key, bucket = GRAINS[table]
    if key == "creative":
        creatives, index = np.unique(shape.creative[keep], return_inverse=True)

        def rows(means: np.ndarray) -> float:
            grouped = np.zeros((len(creatives), means.shape[1]))
            np.add.at(grouped, index, means)
            return float(np.sum(-np.expm1(-grouped)))

    else:

        def rows(means: np.ndarray) -> float:
            return float(np.sum(-np.expm1(-means)))

    if bucket == "day":
        return rows(per_day)
    daily_share = DIURNAL / DIURNAL.sum()
    local = (np.arange(24)[None, :] + np.round(shape.offset_hours[keep])[:, None].astype(np.int64)) % 24
    per_hour = daily_share[local]  # (cell, UTC hour of the day)
    return sum(rows(per_day * per_hour[:, hour : hour + 1]) for hour in range(24))


# Rollups the bench fills itself ------------------------------------------------------------------

_FILL_HOURLY = """
    INSERT INTO reporting_hourly (hour, day, advertiser_id, campaign_id, ad_group_id, creative_id,
        placement_id, country, device_type, impressions, invalid_impressions, clicks, invalid_clicks,
        conversions, conversion_value_micros, spend_micros, credit_micros)
    SELECT hour, day, advertiser_id, campaign_id, ad_group_id, creative_id, placement_id, country,
           device_type, sum(impressions), sum(invalid_impressions), sum(clicks), sum(invalid_clicks),
           sum(conversions), sum(conversion_value_micros), sum(spend_micros), sum(credit_micros)
    FROM (
        SELECT date_trunc('hour', i.at, 'UTC') AS hour, (i.at AT TIME ZONE a.time_zone)::date AS day,
               d.advertiser_id, d.campaign_id, d.ad_group_id, d.creative_id,
               coalesce(d.placement_id, 0) AS placement_id, d.country, d.device_type,
               (i.ivt_reason = '')::int AS impressions, (i.ivt_reason <> '')::int AS invalid_impressions,
               0 AS clicks, 0 AS invalid_clicks, 0 AS conversions, 0::bigint AS conversion_value_micros,
               0::bigint AS spend_micros, 0::bigint AS credit_micros
        FROM delivery_impression i
        JOIN delivery_decision d ON d.event_id = i.event_id AND d.decided_at = i.decided_at
        JOIN accounts_advertiser a ON a.id = d.advertiser_id
        WHERE NOT d.test
      UNION ALL
        SELECT date_trunc('hour', c.at, 'UTC'), (c.at AT TIME ZONE a.time_zone)::date, d.advertiser_id,
               d.campaign_id, d.ad_group_id, d.creative_id, coalesce(d.placement_id, 0), d.country,
               d.device_type, 0, 0, (c.ivt_reason = '')::int, (c.ivt_reason <> '')::int, 0, 0, 0, 0
        FROM delivery_click c
        JOIN delivery_decision d ON d.event_id = c.event_id AND d.decided_at = c.decided_at
        JOIN accounts_advertiser a ON a.id = d.advertiser_id
        WHERE NOT d.test
      UNION ALL
        SELECT date_trunc('hour', v.touch_at, 'UTC'), (v.touch_at AT TIME ZONE a.time_zone)::date,
               v.advertiser_id, v.campaign_id, coalesce(v.ad_group_id, 0), coalesce(v.creative_id, 0),
               coalesce(d.placement_id, 0), coalesce(d.country, ''), coalesce(d.device_type, ''),
               0, 0, 0, 0, 1, coalesce(v.value_micros, 0), 0, 0
        FROM campaigns_conversion v
        JOIN accounts_advertiser a ON a.id = v.advertiser_id
        LEFT JOIN delivery_decision d
          ON d.event_id = v.attributed_event_id AND d.decided_at = reporting_uuid7_time(v.attributed_event_id)
        WHERE v.touch_at IS NOT NULL AND v.attribution <> 'none' AND NOT v.test
      UNION ALL
        SELECT date_trunc('hour', l.at, 'UTC'), l.day, l.advertiser_id, l.campaign_id,
               coalesce(l.ad_group_id, 0), coalesce(l.creative_id, 0), coalesce(d.placement_id, 0),
               coalesce(d.country, ''), coalesce(d.device_type, ''), 0, 0, 0, 0, 0, 0,
               CASE WHEN l.kind = 'charge' THEN l.amount_micros ELSE 0 END,
               CASE WHEN l.kind = 'credit' THEN l.amount_micros ELSE 0 END
        FROM campaigns_ledgerentry l
        LEFT JOIN delivery_decision d
          ON l.kind = 'charge' AND d.event_id = l.event_id AND d.decided_at = l.decided_at
    ) events
    WHERE hour IN (SELECT hour FROM bench_pending)
    GROUP BY hour, day, advertiser_id, campaign_id, ad_group_id, creative_id, placement_id, country,
             device_type
"""
_FILL_CREATIVE = """
    INSERT INTO reporting_creative_hourly (hour, day, advertiser_id, campaign_id, ad_group_id, creative_id,
        impressions, invalid_impressions, clicks, invalid_clicks, conversions, conversion_value_micros,
        spend_micros, credit_micros)
    SELECT hour, day, advertiser_id, campaign_id, ad_group_id, creative_id, sum(impressions),
           sum(invalid_impressions), sum(clicks), sum(invalid_clicks), sum(conversions),
           sum(conversion_value_micros), sum(spend_micros), sum(credit_micros)
    FROM reporting_hourly WHERE hour IN (SELECT hour FROM bench_pending)
    GROUP BY hour, day, advertiser_id, campaign_id, ad_group_id, creative_id
"""
# Reach registers (reporting.reach: the same hash, register and rank) of the pending hours, by hour
# and (advertiser day, campaign); and of every (day, campaign), for the daily sketches.
_REGISTERS = """
    SELECT {hour} day, advertiser_id, campaign_id, register, max(rank)
    FROM (
        SELECT date_trunc('hour', i.at, 'UTC') AS hour, (i.at AT TIME ZONE a.time_zone)::date AS day,
               d.advertiser_id, d.campaign_id, (h & {mask})::int AS register,
               coalesce(nullif(position('1' IN substring(h::bit(64)::text, 1, {bits})), 0), {bits} + 1)
                 AS rank
        FROM delivery_impression i
        JOIN delivery_decision d ON d.event_id = i.event_id AND d.decided_at = i.decided_at
        JOIN accounts_advertiser a ON a.id = d.advertiser_id
        CROSS JOIN LATERAL (SELECT hashtextextended(d.user_key, 0) AS h) hashed
        WHERE i.ivt_reason = '' AND NOT d.test AND d.user_key <> ''
    ) ranked
    {where}
    GROUP BY {hour} day, advertiser_id, campaign_id, register
"""


# The daily grains, rebuilt by rollup.py's own statements for every (day, campaign) at once.
DAILY_STATEMENTS = (
    ("reporting_daily", "_REBUILD_DAILY"),
    ("reporting_creative_daily", "_REBUILD_CREATIVE_DAILY"),
)


def fill_pending_rollups() -> int:
    """Fill every rollup of the hours still marked dirty, set-based over the whole span, as
    rebuild_hour would have one hour at a time; then clear their marks. Returns the hours filled.

    The finest and creative-hour grains by the statements above (rollup.py's _EVENTS over all
    hours), the daily grains by rollup.py's own statements given every (day, campaign), the reach
    sketches by reporting.reach's hash and registers. The bench checks the fill (`hour_rows`): the
    busy hours it rebuilds with rebuild_hour afterwards come out the same in every rollup table.

    The bench's fallback when the real roll_up() cannot get through 60 days of hours in its time
    budget: the figures it gives are then extrapolated from the hours it did."""
    from reporting import rollup

    with transaction.atomic(), connection.cursor() as cursor:
        # Whole tables joined on (event_id, decided_at): the planner takes the two columns for
        # independent and expects a handful of rows, then loops over them; hash joins it is.
        cursor.execute("SET LOCAL work_mem = '256MB'; SET LOCAL enable_nestloop = off")
        cursor.execute(
            "CREATE TEMP TABLE bench_pending ON COMMIT DROP AS SELECT DISTINCT hour FROM reporting_dirty_hour"
        )
        hours = cursor.rowcount
        for table in ("reporting_hourly", "reporting_creative_hourly", *_reach_tables(cursor)[:1]):
            cursor.execute(f"DELETE FROM {table} WHERE hour IN (SELECT hour FROM bench_pending)")  # noqa: S608
        cursor.execute(_FILL_HOURLY)
        cursor.execute(_FILL_CREATIVE)
        cursor.execute("SELECT DISTINCT day, campaign_id FROM reporting_hourly ORDER BY 1, 2")
        days, campaigns = zip(*cursor.fetchall(), strict=True)
        for table, statement in DAILY_STATEMENTS:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - a constant name
            cursor.execute(getattr(rollup, statement), {"days": list(days), "campaigns": list(campaigns)})
        if _reach_tables(cursor):
            _fill_reach(cursor)
        cursor.execute("DELETE FROM reporting_dirty_hour WHERE hour IN (SELECT hour FROM bench_pending)")
    return hours


def _reach_tables(cursor: Any) -> tuple[str, ...]:
    cursor.execute("SELECT to_regclass('reporting_reach_hourly') IS NOT NULL")
    return ("reporting_reach_hourly", "reporting_reach_daily") if cursor.fetchone()[0] else ()


def _fill_reach(cursor: Any) -> None:
    from reporting import reach

    params = {"mask": reach.M - 1, "bits": 64 - reach.P}
    cursor.execute(
        _REGISTERS.format(hour="hour,", where="WHERE hour IN (SELECT hour FROM bench_pending)", **params)
    )
    _copy_sketches(
        cursor, "reporting_reach_hourly", "hour, day, advertiser_id, campaign_id", cursor.fetchall()
    )
    cursor.execute("DELETE FROM reporting_reach_daily")
    cursor.execute(_REGISTERS.format(hour="", where="", **params))
    _copy_sketches(cursor, "reporting_reach_daily", "day, advertiser_id, campaign_id", cursor.fetchall())


def _copy_sketches(cursor: Any, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    from reporting import reach

    sketches: dict[tuple[Any, ...], np.ndarray] = {}
    for row in rows:
        sketches.setdefault(tuple(row[:-2]), reach.empty())[row[-2]] = row[-1]
    with cursor.copy(f"COPY {table} ({columns}, registers) FROM STDIN") as copy:
        for key, registers in sketches.items():
            copy.write_row((*key, registers.tobytes()))


def hour_rows(hour: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row of one hour, and of its advertiser days for the tables kept by the day: of
    every table reporting_* with an hour or a day, so that a grain added to rollup.py and left out of
    the bench's fill shows (rebuild_hour fills it, the fill did not)."""
    out = {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, bool_or(column_name = 'hour') FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name LIKE 'reporting\\_%%'
              AND table_name <> 'reporting_dirty_hour' AND column_name IN ('hour', 'day')
            GROUP BY table_name ORDER BY table_name
            """
        )
        tables = cursor.fetchall()
        cursor.execute("SELECT DISTINCT day FROM reporting_hourly WHERE hour = %s", [hour])
        days = [row[0] for row in cursor.fetchall()]
        for table, by_hour in tables:
            where = "hour = %(hour)s" if by_hour else "day = ANY(%(days)s)"
            cursor.execute(f"SELECT * FROM {table} WHERE {where}", {"hour": hour, "days": days})  # noqa: S608
            names = [c.name for c in cursor.description]
            rows = [
                tuple(v for n, v in zip(names, row, strict=True) if n != "id") for row in cursor.fetchall()
            ]
            out[table] = sorted(rows, key=repr)
    return out
