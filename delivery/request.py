"""The ad server's own words for a request and its answer, shared by every path.

The decision API, the OpenRTB bidder and the simulator's Celery loop each translate what they
receive into an `AdRequest`, hand it to `delivery.engine.decide`, and translate the `Decision` back.
Plain dataclasses with slots: nothing here touches the database.

Money on the auction side is in micros of USD per thousand impressions (`*_cpm_micros`), the
currency placements price in; `delivery.fx` converts an advertiser's bids into it and the price back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Source(StrEnum):
    DECISIONS = "decisions"  # POST /serve/v1/decisions
    OPENRTB = "openrtb"  # POST /openrtb/2.6/bid
    SIMULATOR = "simulator"  # the traffic simulator's batches through the Celery delivery loop


@dataclass(frozen=True, slots=True)
class Context:
    """Who is looking, and where. Empty string / None / empty set means "not known"."""

    country: str = ""  # ISO 3166-1 alpha-2, upper case
    region: str = ""  # ISO 3166-2, e.g. "US-CA"
    language: str = ""  # ISO 639-1, lower case
    device_type: str = ""  # campaigns.targeting.DEVICE_TYPES
    os: str = ""  # campaigns.targeting.OPERATING_SYSTEMS
    age: int | None = None
    gender: str = ""  # campaigns.targeting.Gender
    interests: frozenset[str] = frozenset()  # campaigns.targeting.INTEREST_SEGMENTS
    keywords: frozenset[str] = frozenset()  # lower case, single spaces
    url: str = ""
    ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class Slot:
    """One place to fill: an OpenRTB impression, or `count` ads of a decision-API placement."""

    id: str  # OpenRTB imp.id; for the decision API the placement key (with "#n" when several)
    placement_id: int | None  # a known Placement, or None for an exchange's inventory we do not list
    formats: frozenset[str]  # creative formats the slot takes: campaigns.models.Creative.Format values
    sizes: frozenset[tuple[int, int]] = frozenset()  # banner sizes accepted; empty means any
    floor_cpm_micros: int = 0  # the reserve: max(placement floor, request's bid floor), USD micros CPM
    count: int = 1  # how many different ads this slot takes
    publisher_id: int | None = None

    @classmethod
    def for_placement(cls, placement: PlacementInfo, *, slot_id: str | None = None, count: int = 1) -> Slot:
        """A slot of one of our placements, at its floor."""
        return cls(
            id=slot_id or placement.key,
            placement_id=placement.id,
            formats=frozenset({placement.format}),
            sizes=placement.sizes,
            floor_cpm_micros=placement.floor_cpm_micros,
            count=count,
            publisher_id=placement.publisher_id,
        )


@dataclass(frozen=True, slots=True)
class AdRequest:
    id: str  # the caller's request id (OpenRTB id) or one we generate
    user_key: str  # a stable pseudonymous user id; frequency caps and the simulator's fatigue use it
    context: Context
    slots: tuple[Slot, ...]
    at: datetime  # aware, UTC
    source: Source
    first_price: bool = False  # OpenRTB at=1
    blocked_categories: frozenset[str] = frozenset()  # OpenRTB bcat (IAB content categories)
    blocked_domains: frozenset[str] = frozenset()  # OpenRTB badv (advertiser domains)
    blocked_attributes: frozenset[int] = frozenset()  # OpenRTB battr (creative attributes)
    test: bool = False  # OpenRTB test=1: answer, but nothing is billable
    explain: bool = False  # keep why each ad group was or was not chosen (staff / the advertiser)


@dataclass(frozen=True, slots=True)
class Win:
    """An ad chosen for a slot, priced by the auction."""

    event_id: str  # UUIDv7; every later event of this ad (impression, click, notice, charge) keys on it
    slot_id: str
    placement_id: int | None
    advertiser_id: int
    campaign_id: int
    ad_group_id: int
    creative_id: int
    bid_cpm_micros: int  # the winner's eCPM, USD micros
    price_cpm_micros: int  # what the auction cleared at, USD micros CPM; never above bid_cpm_micros
    price_micros: int  # the same price for this one impression, in the advertiser's currency micros
    currency: str  # the advertiser's ISO 4217 currency
    billing_event: str  # campaigns.models.BillingEvent: when the advertiser pays
    pctr: float
    pcvr: float
    runner_up_cpm_micros: int | None  # eCPM of the best loser, None when the winner was alone
    exposures: int = 0  # the person's impressions of this campaign earlier today (a model feature)


@dataclass(slots=True)
class Rejection:
    """Why an ad group was not in the running for a slot (the first filter that removed it)."""

    ad_group_id: int
    reason: str  # a FilterReason value
    detail: str = ""


@dataclass(slots=True)
class Candidate:
    """An ad group that reached the auction for a slot, with its scores, for explanations."""

    ad_group_id: int
    creative_id: int
    pctr: float
    pcvr: float
    ecpm_cpm_micros: int
    won: bool = False
    price_cpm_micros: int | None = None


@dataclass(slots=True)
class SlotExplanation:
    slot_id: str
    reserve_cpm_micros: int
    candidates: list[Candidate] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


@dataclass(slots=True)
class Decision:
    request: AdRequest
    wins: list[Win] = field(default_factory=list)
    index_version: int = 0
    explanations: list[SlotExplanation] | None = None  # only when request.explain


@dataclass(frozen=True, slots=True)
class PlacementInfo:
    """A known placement, as the index snapshot holds it (no ORM object on the serving path)."""

    id: int
    key: str
    publisher_id: int
    publisher_domain: str
    format: str  # Creative.Format value
    sizes: frozenset[tuple[int, int]]  # banner sizes; empty for native and video
    floor_cpm_micros: int  # USD micros CPM


@dataclass(frozen=True, slots=True)
class CreativeInfo:
    """What is needed to render a creative and to bill it, copied from the database at index build."""

    id: int
    ad_group_id: int
    campaign_id: int
    advertiser_id: int
    format: str  # Creative.Format value
    width: int | None
    height: int | None
    image_url: str  # absolute path under MEDIA_URL ("/media/..."), "" for video
    headline: str
    body: str
    call_to_action: str  # the label, e.g. "Shop now"
    landing_url: str  # the stored landing URL: clicks redirect here and only here
    vast_url: str
    vast_xml: str
    advertiser_name: str
    advertiser_domains: tuple[str, ...]  # OpenRTB adomain / badv
    categories: tuple[str, ...]  # IAB content categories (OpenRTB cat / bcat), e.g. ("IAB20",)
    attributes: tuple[int, ...]  # OpenRTB creative attributes (battr), e.g. video auto-play
