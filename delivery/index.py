"""The targeting index: every deliverable ad group, compiled into numpy masks, rebuilt on change.

A snapshot is read from the database in a handful of queries and compiled into one boolean array per
targeting value ("which ad groups accept country DE"), plus one "unrestricted" array per dimension
("which ad groups do not target by country"). The ad groups a request may see are then an AND over
the dimensions of (unrestricted | OR of the request's values): a few dozen vector operations, never
an ORM query. Creatives are kept in parallel arrays pointing at their ad group's row.

What is "deliverable" at build time: the account active, the campaign active and not ended, the ad
group active, at least one active approved creative, a bid the auction can compare (the account's
currency has an exchange rate). Start times and dayparting change with the clock, so they are checked
per request. The snapshot knows why each left-out ad group is left out, for explanations.

Freshness: any change to a campaign, ad group, creative, account or placement bumps a version number
in Redis (delivery.apps); each process compares it at most once a second and rebuilds when it moved,
and rebuilds anyway after `INDEX_MAX_AGE_SECONDS` (ends of schedules, paused accounts).
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db.models import BigIntegerField, F, Func, Q
from django.utils import timezone

from accounts.models import Advertiser
from campaigns.models import AdGroup, BidStrategy, CallToAction, Campaign, Creative
from delivery import fx, taxonomy
from delivery.models import Placement
from delivery.request import CreativeInfo, PlacementInfo

NO_END_MS = np.iinfo(np.int64).max


class BidKind:
    """How an ad group's bid becomes an eCPM (engine.ecpm)."""

    CPM = 0
    CPC = 1
    CPA = 2
    AUTO = 3  # lowest cost: the platform bids for it


BID_KIND = {
    BidStrategy.MANUAL_CPM: BidKind.CPM,
    BidStrategy.MANUAL_CPC: BidKind.CPC,
    BidStrategy.TARGET_CPA: BidKind.CPA,
    BidStrategy.LOWEST_COST: BidKind.AUTO,
}
FORMATS = tuple(Creative.Format.values)
FORMAT_CODE = {name: code for code, name in enumerate(FORMATS)}
MAX_AGE_INDEX = 128
FREQUENCY_PERIOD_MS: dict[str, int] = {
    Campaign.FrequencyPeriod.HOUR: 3_600_000,
    Campaign.FrequencyPeriod.DAY: 86_400_000,
    Campaign.FrequencyPeriod.WEEK: 7 * 86_400_000,
}


class Dimension:
    """One targeting dimension: which rows accept each value, and which rows do not restrict it."""

    __slots__ = ("by_value", "name", "unrestricted")

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.unrestricted = np.ones(size, dtype=bool)
        self.by_value: dict[Any, np.ndarray] = {}

    def restrict(self, row: int, values: Iterable[Any]) -> None:
        size = len(self.unrestricted)
        values = list(values)
        if not values:
            return
        self.unrestricted[row] = False
        for value in values:
            mask = self.by_value.get(value)
            if mask is None:
                mask = self.by_value[value] = np.zeros(size, dtype=bool)
            mask[row] = True

    def accepts(self, values: Iterable[Any]) -> np.ndarray:
        """Rows that accept a request with these values (any of them) or that do not restrict."""
        out = self.unrestricted.copy()
        for value in values:
            mask = self.by_value.get(value)
            if mask is not None:
                out |= mask
        return out


@dataclass(slots=True)
class Snapshot:
    version: int
    built_at: datetime
    build_seconds: float = 0.0
    # Ad group rows
    ad_group_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    campaign_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    advertiser_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    starts_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ends_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bid_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    bid_usd_micros: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    billing_event: list[str] = field(default_factory=list)
    currency: list[str] = field(default_factory=list)
    hours_open: np.ndarray = field(default_factory=lambda: np.zeros((0, 168), dtype=bool))
    # Frequency caps (the campaign's): impressions per person per period; 0 for none.
    frequency_cap: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    frequency_period_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    time_zone_of_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    time_zones: list[str] = field(default_factory=list)
    row_of_ad_group: dict[int, int] = field(default_factory=dict)
    dimensions: dict[str, Dimension] = field(default_factory=dict)
    age_ok: np.ndarray = field(default_factory=lambda: np.zeros((MAX_AGE_INDEX, 0), dtype=bool))
    age_unrestricted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    placement_included: Dimension = field(default_factory=lambda: Dimension("placements_include", 0))
    placement_excluded: dict[int, np.ndarray] = field(default_factory=dict)
    # Creative rows
    creative_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    creative_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    creative_format: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    creative_size: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    creatives: dict[int, CreativeInfo] = field(default_factory=dict)
    creative_list: list[CreativeInfo] = field(default_factory=list)
    # Inventory
    placements: dict[int, PlacementInfo] = field(default_factory=dict)
    placements_by_key: dict[str, PlacementInfo] = field(default_factory=dict)
    # Why ad groups that exist are not in the index: ad group id -> reason
    left_out: dict[int, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.ad_group_ids)


def size_code(width: int | None, height: int | None) -> int:
    return (width or 0) * 100_000 + (height or 0)


def build(version: int = 0, *, at: datetime | None = None) -> Snapshot:
    """Read every deliverable ad group and compile the snapshot (a few queries, no per-row query)."""
    started = timezone.now()
    at = at or started
    snapshot = Snapshot(version=version, built_at=started)

    placements = Placement.objects.active().select_related("publisher")
    for placement in placements:
        info = placement.info()
        snapshot.placements[info.id] = info
        snapshot.placements_by_key[info.key] = info

    deliverable = Q(
        status=AdGroup.Status.ACTIVE,
        campaign__status=Campaign.Status.ACTIVE,
        campaign__advertiser__status=Advertiser.Status.ACTIVE,
    ) & (Q(campaign__ends_at__isnull=True) | Q(campaign__ends_at__gt=at))
    # Plain tuples, epochs computed by PostgreSQL: model instances and datetime parsing would cost
    # most of the build at 10,000 ad groups.
    ad_groups = [
        AdGroupRow(*values)
        for values in AdGroup.objects.filter(deliverable)
        .annotate(starts_ms=_epoch_ms_sql("campaign__starts_at"), ends_ms=_epoch_ms_sql("campaign__ends_at"))
        .order_by("id")
        .values_list(
            "id",
            "campaign_id",
            "advertiser_id",
            "bid_strategy",
            "bid_micros",
            "targeting",
            "billing_event",
            "starts_ms",
            "ends_ms",
            "campaign__frequency_cap_impressions",
            "campaign__frequency_cap_period",
        )
    ]
    advertisers = {
        a.pk: a
        for a in Advertiser.objects.filter(pk__in={group.advertiser_id for group in ad_groups}).only(
            "id", "name", "currency", "time_zone", "domains"
        )
    }
    creatives_by_group: dict[int, list[Any]] = defaultdict(list)
    for creative in (
        Creative.objects.servable()
        .filter(ad_group__in=AdGroup.objects.filter(deliverable).values("id"))
        .order_by("id")
        .values("id", "ad_group_id", "width", "height", "category", *Creative.CONTENT_FIELDS)
    ):
        creatives_by_group[creative["ad_group_id"]].append(creative)

    rows: list[AdGroupRow] = []
    for group in ad_groups:
        currency = advertisers[group.advertiser_id].currency
        if not creatives_by_group.get(group.id):
            snapshot.left_out[group.id] = "No active creative has been approved yet."
        elif not fx.has_rate(currency):
            snapshot.left_out[group.id] = f"No exchange rate for {currency}."
        else:
            rows.append(group)
    _compile_rows(snapshot, rows, advertisers)
    _compile_creatives(snapshot, rows, advertisers, creatives_by_group)
    snapshot.build_seconds = (timezone.now() - started).total_seconds()
    return snapshot


@dataclass(frozen=True, slots=True)
class AdGroupRow:
    id: int
    campaign_id: int
    advertiser_id: int
    bid_strategy: str
    bid_micros: int | None
    targeting: dict[str, Any]
    billing_event: str
    starts_ms: int
    ends_ms: int | None
    frequency_cap: int | None
    frequency_period: str


def _epoch_ms_sql(field: str) -> Func:
    return Func(
        F(field),
        template="(EXTRACT(EPOCH FROM %(expressions)s) * 1000)::bigint",
        output_field=BigIntegerField(),
    )


def _compile_rows(snapshot: Snapshot, rows: list[AdGroupRow], advertisers: dict[int, Advertiser]) -> None:
    n = len(rows)
    snapshot.ad_group_ids = np.array([g.id for g in rows], dtype=np.int64)
    snapshot.campaign_ids = np.array([g.campaign_id for g in rows], dtype=np.int64)
    snapshot.advertiser_ids = np.array([g.advertiser_id for g in rows], dtype=np.int64)
    snapshot.starts_ms = np.array([g.starts_ms for g in rows], dtype=np.int64)
    snapshot.ends_ms = np.array([NO_END_MS if g.ends_ms is None else g.ends_ms for g in rows], dtype=np.int64)
    snapshot.bid_kind = np.array([BID_KIND[BidStrategy(g.bid_strategy)] for g in rows], dtype=np.int8)
    auto_bid = int(getattr(settings, "DELIVERY_LOWEST_COST_CPM_MICROS", 4_000_000))
    snapshot.bid_usd_micros = np.array(
        [
            auto_bid
            if g.bid_micros is None
            else (fx.to_usd_micros(g.bid_micros, advertisers[g.advertiser_id].currency) or 0)
            for g in rows
        ],
        dtype=np.int64,
    )
    snapshot.billing_event = [g.billing_event for g in rows]
    snapshot.frequency_cap = np.array([g.frequency_cap or 0 for g in rows], dtype=np.int64)
    snapshot.frequency_period_ms = np.array(
        [FREQUENCY_PERIOD_MS.get(g.frequency_period, 0) for g in rows], dtype=np.int64
    )
    snapshot.currency = [advertisers[g.advertiser_id].currency for g in rows]
    snapshot.row_of_ad_group = {g.id: row for row, g in enumerate(rows)}

    zones: dict[str, int] = {}
    snapshot.hours_open = np.ones((n, 168), dtype=bool)
    snapshot.time_zone_of_row = np.zeros(n, dtype=np.int16)
    dims = {
        name: Dimension(name, n)
        for name in ("location", "languages", "genders", "device_types", "operating_systems", "interests")
    }
    dims["keywords"] = Dimension("keywords", n)
    snapshot.age_ok = np.zeros((MAX_AGE_INDEX, n), dtype=bool)
    snapshot.age_unrestricted = np.ones(n, dtype=bool)
    included = Dimension("placements_include", n)
    excluded: dict[int, np.ndarray] = {}
    for row, group in enumerate(rows):
        targeting = group.targeting or {}
        zone = advertisers[group.advertiser_id].time_zone
        snapshot.time_zone_of_row[row] = zones.setdefault(zone, len(zones))
        grid = targeting.get("dayparting")
        if grid:
            snapshot.hours_open[row] = np.array(grid, dtype=bool).reshape(168)
        dims["location"].restrict(
            row,
            [("c", c) for c in targeting.get("countries", [])]
            + [("r", r) for r in targeting.get("regions", [])],
        )
        for name in ("languages", "genders", "device_types", "operating_systems", "interests", "keywords"):
            dims[name].restrict(row, targeting.get(name, []))
        ranges = targeting.get("age_ranges") or []
        if ranges:
            snapshot.age_unrestricted[row] = False
            for age_range in ranges:
                snapshot.age_ok[age_range["min"] : age_range["max"] + 1, row] = True
        included.restrict(row, targeting.get("placements_include", []))
        for placement_id in targeting.get("placements_exclude", []):
            excluded.setdefault(placement_id, np.zeros(n, dtype=bool))[row] = True
    snapshot.time_zones = list(zones)
    snapshot.dimensions = dims
    snapshot.placement_included = included
    snapshot.placement_excluded = excluded


def _compile_creatives(
    snapshot: Snapshot,
    rows: list[AdGroupRow],
    advertisers: dict[int, Advertiser],
    by_group: dict[int, list[Any]],
) -> None:
    media_url = settings.MEDIA_URL
    labels = dict(CallToAction.choices)
    ids, row_of, formats, sizes = [], [], [], []
    for row, group in enumerate(rows):
        advertiser = advertisers[group.advertiser_id]
        for c in by_group[group.id]:
            info = CreativeInfo(
                id=c["id"],
                ad_group_id=group.id,
                campaign_id=group.campaign_id,
                advertiser_id=group.advertiser_id,
                format=c["format"],
                width=c["width"],
                height=c["height"],
                image_url=f"{media_url}{c['image']}" if c["image"] else "",
                headline=c["headline"],
                body=c["body"],
                call_to_action=labels.get(c["call_to_action"], ""),
                landing_url=c["landing_url"],
                vast_url=c["vast_url"],
                vast_xml=c["vast_xml"],
                advertiser_name=advertiser.name,
                advertiser_domains=tuple(advertiser.domains or ()),
                categories=taxonomy.iab_categories(c["category"]),
                attributes=_attributes(c),
            )
            snapshot.creatives[info.id] = info
            snapshot.creative_list.append(info)
            ids.append(info.id)
            row_of.append(row)
            formats.append(FORMAT_CODE[info.format])
            sizes.append(size_code(info.width, info.height) if info.format == Creative.Format.BANNER else 0)
    snapshot.creative_ids = np.array(ids, dtype=np.int64)
    snapshot.creative_row = np.array(row_of, dtype=np.int64)
    snapshot.creative_format = np.array(formats, dtype=np.int8)
    snapshot.creative_size = np.array(sizes, dtype=np.int64)


def _attributes(creative: dict[str, Any]) -> tuple[int, ...]:
    """AdCOM 1.0 creative attributes a publisher may block (OpenRTB battr).

    Adwright's creatives are static images, native assets and VAST that the publisher's own player
    runs: none is expandable, pops up, plays audio on its own or is interactive, so none carries a
    blockable attribute. Creatives that do (animated or rich media) must declare theirs here."""
    return ()


def tie_keys(request_id: str, ad_group_ids: np.ndarray) -> np.ndarray:
    """Deterministic per request, different across requests: equal bids take turns."""
    salt = zlib.crc32(request_id.encode()) or 1
    return (ad_group_ids * 2654435761 + salt) % (1 << 32)


def local_hour_of_week(snapshot: Snapshot, at: datetime) -> np.ndarray:
    """For each row, the hour of the week (Monday 00:00 = 0) in its account's time zone."""
    hours = []
    for zone in snapshot.time_zones or ["UTC"]:
        local = at.astimezone(ZoneInfo(zone))
        hours.append(local.weekday() * 24 + local.hour)
    return np.array(hours, dtype=np.int64)[snapshot.time_zone_of_row]
