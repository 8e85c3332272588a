"""The demo world that `manage.py seed_demo` (and so `make run`) creates: an agency with two
advertisers, a direct advertiser, four logins, campaigns in every objective and status, and the
publishers and placements they run on.

Everything is looked up by its natural key first and created only when missing, so running the seed
again changes nothing: no row, no image file, no audit entry. Campaign objects are created through
campaigns.services, so the audit log tells the demo's own story; the status and review steps run only
for objects created in the same run, so a reseed never undoes what someone did in the demo.
"""

from __future__ import annotations

import io
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cache
from typing import Any

from django.core.files.base import ContentFile
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import slugify
from PIL import Image, ImageDraw, ImageFont

from accounts.audit import Actor, record, snapshot
from accounts.models import Advertiser, Agency, AuditLog, Membership, Role, User
from accounts.money import parse_amount
from campaigns import services
from campaigns.models import (
    AdGroup,
    BidStrategy,
    CallToAction,
    Campaign,
    ConversionEvent,
    Creative,
    DeniedDomain,
    Objective,
    ProhibitedTerm,
    RejectionReason,
)
from campaigns.reviewers import reviewers_group
from delivery.models import Placement, Publisher

DEMO_PASSWORD = "demo-password"  # noqa: S105 - printed on purpose: these are the demo's logins

RGB = tuple[int, int, int]

# ---------------------------------------------------------------------------------------------------
# What the demo world is made of


@dataclass(frozen=True, slots=True)
class DemoUser:
    email: str
    full_name: str
    what: str  # for the printed list of logins
    superuser: bool = False
    reviewer: bool = False  # staff in the Reviewers group: the creative review queue in the admin


@dataclass(frozen=True, slots=True)
class DemoMembership:
    email: str
    role: Role
    agency_slug: str = ""
    advertiser: str = ""


@dataclass(frozen=True, slots=True)
class DemoPlacement:
    key: str
    name: str
    format: str
    floor_usd: str  # CPM floor; placements price in USD
    daily_requests: int
    sizes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DemoPublisher:
    name: str
    domain: str
    placements: tuple[DemoPlacement, ...]


@dataclass(frozen=True, slots=True)
class DemoCreative:
    name: str
    format: str
    landing_path: str
    size: tuple[int, int] | None = None  # image size for banners and native
    headline: str = ""
    body: str = ""
    call_to_action: str = ""
    video_seconds: int = 0
    review: str = "approve"  # approve, reject, or pending (left in the review queue)
    rejection_reasons: tuple[str, ...] = ()
    review_note: str = ""


@dataclass(frozen=True, slots=True)
class DemoAdGroup:
    name: str
    bid_strategy: str
    bid: str | None  # in the account currency; None for lowest cost
    targeting: dict[str, Any]
    creatives: tuple[DemoCreative, ...]
    placement_keys: tuple[str, ...] = ()  # placements_include, by placement key


@dataclass(frozen=True, slots=True)
class DemoCampaign:
    name: str
    objective: str
    status: str  # the status the demo leaves it in: draft, active or paused
    budget: str  # in the account currency
    ad_groups: tuple[DemoAdGroup, ...]
    budget_type: str = Campaign.BudgetType.DAILY
    pacing: str = Campaign.Pacing.STANDARD
    starts_in_days: int = -14  # relative to the advertiser's today, at local midnight
    runs_for_days: int | None = None
    frequency_cap: tuple[int, str] | None = None
    conversion_event: str = ""


@dataclass(frozen=True, slots=True)
class DemoConversionEvent:
    name: str
    category: str
    counting: str = ConversionEvent.Counting.EVERY
    click_window_days: int = 7
    view_window_days: int = 1
    default_value: str | None = None


@dataclass(frozen=True, slots=True)
class DemoAdvertiser:
    name: str
    currency: str
    time_zone: str
    domains: tuple[str, ...]
    colour: RGB
    accent: RGB
    tagline: str
    category: str  # what its ads are about (Creative.category)
    campaigns: tuple[DemoCampaign, ...]
    agency_slug: str = ""
    conversion_events: tuple[DemoConversionEvent, ...] = ()


AGENCY_NAME, AGENCY_SLUG = "Northwind Media", "northwind"

USERS = (
    DemoUser("admin@example.com", "Priya Natarajan", "superuser (/admin/)", superuser=True),
    DemoUser(
        "reviewer@example.com", "Rui Almeida", "ad reviewer: the review queue in /admin/", reviewer=True
    ),
    DemoUser("owner@example.com", "Oliver Bennett", f"admin of the agency {AGENCY_NAME}"),
    DemoUser("manager@example.com", "Marta Kowalski", "manager of Harbour & Finch Coffee"),
    DemoUser("analyst@example.com", "Sam Okafor", "analyst on Alpine Outfitters and Lumière Cosmetics"),
)

MEMBERSHIPS = (
    DemoMembership("owner@example.com", Role.ADMIN, agency_slug=AGENCY_SLUG),
    DemoMembership("manager@example.com", Role.MANAGER, advertiser="Harbour & Finch Coffee"),
    DemoMembership("analyst@example.com", Role.ANALYST, advertiser="Alpine Outfitters"),
    DemoMembership("analyst@example.com", Role.ANALYST, advertiser="Lumière Cosmetics"),
)

BANNER, NATIVE, VIDEO = Creative.Format.BANNER, Creative.Format.NATIVE, Creative.Format.VIDEO

PUBLISHERS = (
    DemoPublisher("The Daily Ledger", "dailyledger.news", (
        DemoPlacement("daily-ledger-home-leaderboard", "Homepage leaderboard", BANNER, "2.50", 1_200_000,
                      ("728x90", "970x90", "970x250")),
        DemoPlacement("daily-ledger-article-mpu", "Article sidebar MPU", BANNER, "1.80", 2_400_000,
                      ("300x250", "300x600")),
        DemoPlacement("daily-ledger-in-feed-native", "In-feed native", NATIVE, "3.00", 900_000),
    )),
    DemoPublisher("Trailhead Magazine", "trailheadmag.com", (
        DemoPlacement("trailhead-mobile-banner", "Mobile banner", BANNER, "0.60", 1_500_000,
                      ("320x50", "320x100")),
        DemoPlacement("trailhead-gear-skyscraper", "Gear review skyscraper", BANNER, "1.20", 350_000,
                      ("160x600", "300x600")),
        DemoPlacement("trailhead-pre-roll", "Pre-roll video", VIDEO, "12.00", 180_000),
    )),
    DemoPublisher("Pocket Recipes", "pocketrecipes.app", (
        DemoPlacement("pocket-recipes-feed-native", "Recipe feed native", NATIVE, "2.20", 1_100_000),
        DemoPlacement("pocket-recipes-footer", "Recipe footer banner", BANNER, "0.45", 3_000_000,
                      ("320x50", "300x50")),
    )),
)  # fmt: skip


def _open_hours(*windows: tuple[range, range]) -> list[list[bool]]:
    """A dayparting grid (Monday first, in the advertiser's time zone) open in the (days, hours) windows."""
    return [
        [any(day in days and hour in hours for days, hours in windows) for hour in range(24)]
        for day in range(7)
    ]


# The review policy's starting lists (admin: Prohibited terms, Denied domains): (term, reason, blocking).
PROHIBITED_TERMS: tuple[tuple[str, str, bool], ...] = (
    ("casino", RejectionReason.PROHIBITED_PRODUCT, True),
    ("miracle cure", RejectionReason.MISLEADING_CLAIMS, True),
    ("get rich quick", RejectionReason.MISLEADING_CLAIMS, True),
    ("clinically proven", RejectionReason.MISLEADING_CLAIMS, False),
    ("guaranteed results", RejectionReason.MISLEADING_CLAIMS, False),
)
DENIED_DOMAINS = ("free-prizes.example", "bit.ly")

ADVERTISERS = (
    DemoAdvertiser(
        name="Alpine Outfitters", agency_slug=AGENCY_SLUG, currency="USD", time_zone="America/Denver",
        domains=("alpineoutfitters.com", "shop.alpineoutfitters.com"),
        colour=(31, 77, 58), accent=(242, 169, 59), tagline="Gear for every trail", category="outdoors",
        conversion_events=(
            DemoConversionEvent("Purchase", ConversionEvent.Category.PURCHASE, default_value="85.00"),
        ),
        campaigns=(
            DemoCampaign(
                name="Spring Trail Collection", objective=Objective.AWARENESS, status="active",
                budget="250.00", frequency_cap=(3, Campaign.FrequencyPeriod.DAY),
                ad_groups=(DemoAdGroup(
                    name="US & Canada hikers", bid_strategy=BidStrategy.MANUAL_CPM, bid="4.50",
                    targeting={
                        "countries": ["US", "CA"], "languages": ["en"],
                        "age_ranges": [{"min": 25, "max": 54}],
                        "device_types": ["desktop", "mobile", "tablet"],
                        "interests": ["outdoors", "fitness", "travel"],
                    },
                    creatives=(
                        DemoCreative("Spring trail 300x250", BANNER, "/spring", size=(300, 250)),
                        DemoCreative("Spring trail 728x90", BANNER, "/spring", size=(728, 90)),
                        DemoCreative("Spring trail 320x50", BANNER, "/spring", size=(320, 50)),
                        DemoCreative(
                            "Spring trail native", NATIVE, "/spring", size=(1200, 628),
                            headline="The spring trail collection is here",
                            body="Lightweight shells, trail runners and packs, tested on the Rockies.",
                            call_to_action=CallToAction.SHOP_NOW,
                        ),
                    ),
                ),),
            ),
            DemoCampaign(
                name="Trail Shoes Online Sales", objective=Objective.CONVERSIONS, status="active",
                budget="6000.00", budget_type=Campaign.BudgetType.LIFETIME,
                starts_in_days=-10, runs_for_days=60, conversion_event="Purchase",
                ad_groups=(DemoAdGroup(
                    name="Runners 18-44, evenings", bid_strategy=BidStrategy.TARGET_CPA, bid="22.00",
                    targeting={
                        "countries": ["US"], "regions": ["US-CO", "US-UT", "US-WA", "US-OR"],
                        "languages": ["en"],
                        "age_ranges": [{"min": 18, "max": 24}, {"min": 25, "max": 44}],
                        "device_types": ["mobile"], "operating_systems": ["ios", "android"],
                        "interests": ["fitness", "sports", "outdoors"],
                        # Runners shop after work on weekdays and through the day at weekends.
                        "dayparting": _open_hours((range(5), range(17, 23)), (range(5, 7), range(8, 22))),
                    },
                    creatives=(
                        DemoCreative(
                            "Trail shoes square native", NATIVE, "/trail-shoes", size=(1200, 1200),
                            headline="Grip that holds on wet rock",
                            body="Our new trail runner: 280 g, Vibram sole, free returns for 60 days.",
                            call_to_action=CallToAction.SHOP_NOW,
                        ),
                        DemoCreative("Trail shoes 300x600", BANNER, "/trail-shoes", size=(300, 600)),
                    ),
                ),),
            ),
            DemoCampaign(
                name="Winter Clearance", objective=Objective.TRAFFIC, status="paused", budget="120.00",
                pacing=Campaign.Pacing.ACCELERATED,
                ad_groups=(DemoAdGroup(
                    name="Bargain hunters", bid_strategy=BidStrategy.MANUAL_CPC, bid="0.85",
                    targeting={
                        "countries": ["US"], "interests": ["shopping", "outdoors"], "keywords": ["ski sale"],
                    },
                    creatives=(DemoCreative("Clearance 160x600", BANNER, "/sale", size=(160, 600)),),
                    placement_keys=("trailhead-gear-skyscraper",),
                ),),
            ),
        ),
    ),
    DemoAdvertiser(
        name="Lumière Cosmetics", agency_slug=AGENCY_SLUG, currency="EUR", time_zone="Europe/Paris",
        domains=("lumiere-cosmetics.fr",), colour=(122, 31, 74), accent=(246, 214, 196),
        tagline="Skin care, made in Grasse", category="beauty",
        conversion_events=(
            DemoConversionEvent(
                "Newsletter sign-up", ConversionEvent.Category.SIGN_UP, counting=ConversionEvent.Counting.ONE,
                click_window_days=28, view_window_days=1,
            ),
        ),
        campaigns=(
            DemoCampaign(
                name="Summer Glow Launch", objective=Objective.TRAFFIC, status="active", budget="400.00",
                ad_groups=(DemoAdGroup(
                    name="France, Belgium, Switzerland - mobile", bid_strategy=BidStrategy.MANUAL_CPC,
                    bid="0.60",
                    targeting={
                        "countries": ["FR", "BE", "CH", "DE"], "languages": ["fr", "de"],
                        "age_ranges": [{"min": 18, "max": 34}, {"min": 35, "max": 54}],
                        "genders": ["female"], "device_types": ["mobile", "tablet"],
                        "operating_systems": ["ios", "android"], "interests": ["beauty", "fashion"],
                        "keywords": ["crème solaire", "soin visage", "sunscreen"],
                    },
                    creatives=(
                        DemoCreative("Summer glow 300x250", BANNER, "/ete", size=(300, 250)),
                        DemoCreative(
                            "Summer glow native", NATIVE, "/ete", size=(1200, 628),
                            headline="Un éclat d'été, naturellement",
                            body="Sérum et crème solaire SPF 50 aux extraits de fleurs de Grasse.",
                            call_to_action=CallToAction.LEARN_MORE,
                        ),
                        DemoCreative(
                            "Summer glow billboard 970x250", BANNER, "/ete", size=(970, 250),
                            review="reject", rejection_reasons=(RejectionReason.MISLEADING_CLAIMS,),
                            review_note="'Clinically proven' needs substantiation on the landing page.",
                        ),
                    ),
                ),),
            ),
            DemoCampaign(
                name="Brand Film", objective=Objective.AWARENESS, status="active", budget="300.00",
                frequency_cap=(2, Campaign.FrequencyPeriod.DAY),
                ad_groups=(DemoAdGroup(
                    name="Pre-roll, Europe", bid_strategy=BidStrategy.LOWEST_COST, bid=None,
                    targeting={
                        "countries": ["FR", "BE", "CH", "IT", "ES"], "age_ranges": [{"min": 25, "max": 64}],
                        "device_types": ["desktop", "ctv", "tablet"],
                        "interests": ["beauty", "entertainment"],
                    },
                    creatives=(DemoCreative("Brand film 15s", VIDEO, "/notre-histoire", video_seconds=15),),
                    placement_keys=("trailhead-pre-roll",),
                ),),
            ),
            DemoCampaign(
                name="Newsletter Sign-ups", objective=Objective.CONVERSIONS, status="draft", budget="80.00",
                starts_in_days=3, conversion_event="Newsletter sign-up",
                ad_groups=(DemoAdGroup(
                    name="Beauty readers", bid_strategy=BidStrategy.LOWEST_COST, bid=None,
                    targeting={
                        "countries": ["FR", "BE"], "languages": ["fr"], "interests": ["beauty", "health"],
                    },
                    creatives=(
                        DemoCreative(
                            "Newsletter native", NATIVE, "/newsletter", size=(1200, 628), review="pending",
                            headline="-10 % sur votre première commande",
                            body="Inscrivez-vous à notre lettre : conseils et offres en avant-première.",
                            call_to_action=CallToAction.SIGN_UP,
                        ),
                    ),
                    placement_keys=("daily-ledger-in-feed-native", "pocket-recipes-feed-native"),
                ),),
            ),
        ),
    ),
    DemoAdvertiser(
        name="Harbour & Finch Coffee", currency="GBP", time_zone="Europe/London",
        domains=("harbourandfinch.co.uk",), colour=(59, 42, 32), accent=(214, 167, 96),
        tagline="Small-batch roasts, delivered", category="cooking",
        campaigns=(
            DemoCampaign(
                name="Coffee Subscription", objective=Objective.TRAFFIC, status="active", budget="90.00",
                ad_groups=(DemoAdGroup(
                    name="UK & Ireland mornings", bid_strategy=BidStrategy.MANUAL_CPM, bid="3.20",
                    targeting={
                        "countries": ["GB", "IE"], "languages": ["en"],
                        "age_ranges": [{"min": 25, "max": 64}],
                        "device_types": ["mobile", "desktop"], "interests": ["cooking", "shopping"],
                        "keywords": ["specialty coffee", "coffee subscription", "flat white"],
                        "dayparting": _open_hours((range(7), range(6, 12))),
                    },
                    creatives=(
                        DemoCreative("Subscription 300x250", BANNER, "/subscribe", size=(300, 250)),
                        DemoCreative("Subscription 320x50", BANNER, "/subscribe", size=(320, 50)),
                    ),
                ),),
            ),
            DemoCampaign(
                name="Holiday Gift Boxes", objective=Objective.AWARENESS, status="draft", budget="1500.00",
                budget_type=Campaign.BudgetType.LIFETIME, starts_in_days=30, runs_for_days=45,
                ad_groups=(DemoAdGroup(
                    name="Gift buyers", bid_strategy=BidStrategy.MANUAL_CPM, bid="2.80",
                    targeting={"countries": ["GB"], "age_ranges": [{"min": 30, "max": 65}],
                               "interests": ["cooking", "family", "shopping"]},
                    creatives=(DemoCreative("Gift box 300x250", BANNER, "/gifts", size=(300, 250)),),
                ),),
            ),
        ),
    ),
)  # fmt: skip

# ---------------------------------------------------------------------------------------------------
# Creative images and VAST, drawn deterministically (same inputs, same bytes)


def _text_colour(background: RGB) -> RGB:
    luminance = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    return (24, 24, 24) if luminance > 150 else (255, 255, 255)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _drawable(text: str) -> str:
    """The text without accents: Pillow's built-in font has ASCII glyphs only ("Lumière" -> "Lumiere")."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _fitted(draw: ImageDraw.ImageDraw, text: str, box: tuple[int, int], largest: int) -> Any:
    """The largest built-in font (down to 8 px) in which `text` fits in a box of `box` pixels."""
    size = max(largest, 8)
    while size > 8:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=_font(size))
        if right - left <= box[0] and bottom - top <= box[1]:
            break
        size -= 1
    return _font(size)


def render_creative_image(
    width: int, height: int, *, brand: str, tagline: str, colour: RGB, accent: RGB
) -> bytes:
    """A PNG in the brand colour with the brand name and tagline, laid out for the image's shape."""
    brand, tagline = _drawable(brand), _drawable(tagline)
    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    ink = _text_colour(colour)
    pad = max(4, min(width, height) // 12)
    if width >= 3 * height:  # leaderboards and mobile banners: name left, tagline right, accent bar below
        bar = max(3, height // 12)
        draw.rectangle((0, height - bar, width, height), fill=accent)
        half = (width - 3 * pad) // 2
        inner = height - 2 * pad - bar
        name_font = _fitted(draw, brand, (half, inner), int(inner * 0.7))
        tag_font = _fitted(draw, tagline, (half, inner), int(inner * 0.45))
        middle = (height - bar) // 2
        draw.text((pad, middle), brand, font=name_font, fill=ink, anchor="lm")
        draw.text((width - pad, middle), tagline, font=tag_font, fill=accent, anchor="rm")
    else:  # rectangles, skyscrapers, native: name and tagline stacked, a call-to-action pill below
        inner_width = width - 2 * pad
        draw.rectangle((0, 0, width, max(4, height // 40)), fill=accent)
        name_font = _fitted(draw, brand, (inner_width, height // 5), min(height // 6, width // 5))
        tag_font = _fitted(draw, tagline, (inner_width, height // 8), min(height // 12, width // 10))
        draw.text((width // 2, int(height * 0.38)), brand, font=name_font, fill=ink, anchor="mm")
        draw.text((width // 2, int(height * 0.55)), tagline, font=tag_font, fill=accent, anchor="mm")
        pill_w, pill_h = int(inner_width * 0.6), max(16, min(height // 9, width // 5))
        top = int(height * 0.72)
        left = (width - pill_w) // 2
        draw.rounded_rectangle((left, top, left + pill_w, top + pill_h), radius=pill_h // 2, fill=accent)
        label = "Discover more"
        label_font = _fitted(draw, label, (pill_w - pad, pill_h - 4), int(pill_h * 0.6))
        draw.text(
            (width // 2, top + pill_h // 2), label, font=label_font, fill=_text_colour(accent), anchor="mm"
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def vast_document(*, ad_id: str, title: str, seconds: int, media_url: str, click_url: str) -> str:
    """An inline VAST 4.2 response with one linear creative (a progressive MP4)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<VAST version="4.2" xmlns="http://www.iab.com/VAST">
  <Ad id="{ad_id}">
    <InLine>
      <AdSystem version="1.0">Adwright demo</AdSystem>
      <AdTitle>{title}</AdTitle>
      <Impression id="demo"><![CDATA[{click_url}]]></Impression>
      <AdServingId>{ad_id}</AdServingId>
      <Creatives>
        <Creative id="{ad_id}-linear" sequence="1">
          <UniversalAdId idRegistry="Ad-ID">{ad_id.upper()}</UniversalAdId>
          <Linear>
            <Duration>00:00:{seconds:02d}</Duration>
            <MediaFiles>
              <MediaFile delivery="progressive" type="video/mp4" width="1280" height="720" bitrate="2500">
                <![CDATA[{media_url}]]>
              </MediaFile>
            </MediaFiles>
            <VideoClicks>
              <ClickThrough id="landing"><![CDATA[{click_url}]]></ClickThrough>
            </VideoClicks>
          </Linear>
        </Creative>
      </Creatives>
    </InLine>
  </Ad>
</VAST>
"""


# ---------------------------------------------------------------------------------------------------
# Seeding


@dataclass
class SeedResult:
    created: Counter[str] = field(default_factory=Counter)
    existing: Counter[str] = field(default_factory=Counter)

    def count(self, obj: models.Model, created: bool) -> None:
        (self.created if created else self.existing)[str(obj._meta.verbose_name_plural)] += 1

    def summary(self) -> str:
        if not self.created:
            return f"Demo data already present ({sum(self.existing.values())} objects); nothing changed."
        made = ", ".join(f"{n} {label}" for label, n in sorted(self.created.items()))
        return f"Demo data created: {made}."


def logins() -> list[tuple[str, str]]:
    return [(user.email, user.what) for user in USERS]


def seed() -> SeedResult:
    """Create whatever part of the demo world is missing, in one transaction."""
    with transaction.atomic():
        return _Seeder().run()


class _Seeder:
    def __init__(self) -> None:
        self.result = SeedResult()
        self.system = Actor.system()
        self.now = timezone.now()
        self.reviewer = Actor(source=AuditLog.Source.ADMIN)  # the superuser, once run() has it

    def run(self) -> SeedResult:
        users = {spec.email: self.user(spec) for spec in USERS}
        reviewer = users[next(spec.email for spec in USERS if spec.reviewer)]
        self.reviewer = Actor(source=AuditLog.Source.ADMIN, user=reviewer)
        self.review_policy()
        agency = self.agency()
        placements = {
            placement.key: placement for publisher in PUBLISHERS for placement in self.publisher(publisher)
        }
        advertisers = {spec.name: self.advertiser(spec, agency) for spec in ADVERTISERS}
        for membership in MEMBERSHIPS:
            self.membership(membership, users[membership.email], agency, advertisers)
        for brand in ADVERTISERS:
            advertiser = advertisers[brand.name]
            events = {
                event.name: self.conversion_event(advertiser, event) for event in brand.conversion_events
            }
            for campaign in brand.campaigns:
                self.campaign(advertiser, brand, campaign, events, placements)
        return self.result

    def _created(self, obj: models.Model) -> None:
        """Count a new object and log its creation (services log their own)."""
        record(actor=self.system, action="create", obj=obj, after=snapshot(obj))
        self.result.count(obj, created=True)

    # Accounts -------------------------------------------------------------------------------------

    def user(self, spec: DemoUser) -> User:
        user = User.objects.filter(email=spec.email).first()
        if user is not None:
            self.result.count(user, created=False)
            return user
        create = User.objects.create_superuser if spec.superuser else User.objects.create_user
        user = create(
            spec.email, DEMO_PASSWORD, full_name=spec.full_name, is_staff=spec.superuser or spec.reviewer
        )
        if spec.reviewer:
            user.groups.add(reviewers_group())
        # Not audited: a user's row holds the password hash, which has no place in a log.
        self.result.count(user, created=True)
        return user

    def review_policy(self) -> None:
        for term, reason, blocking in PROHIBITED_TERMS:
            found = ProhibitedTerm.objects.filter(term=term).first()
            if found is not None:
                self.result.count(found, created=False)
                continue
            prohibited = ProhibitedTerm(term=term, reason=reason, blocking=blocking)
            prohibited.full_clean()
            prohibited.save()
            self._created(prohibited)
        for domain in DENIED_DOMAINS:
            denied = DeniedDomain.objects.filter(domain=domain).first()
            if denied is not None:
                self.result.count(denied, created=False)
                continue
            denied = DeniedDomain(
                domain=domain, note="Link shorteners and known scams hide the landing page."
            )
            denied.full_clean()
            denied.save()
            self._created(denied)

    def agency(self) -> Agency:
        agency = Agency.objects.filter(slug=AGENCY_SLUG).first()
        if agency is not None:
            self.result.count(agency, created=False)
            return agency
        agency = Agency(name=AGENCY_NAME, slug=AGENCY_SLUG)
        agency.full_clean()
        agency.save()
        self._created(agency)
        return agency

    def advertiser(self, spec: DemoAdvertiser, agency: Agency) -> Advertiser:
        owner = agency if spec.agency_slug else None
        advertiser = Advertiser.objects.filter(agency=owner, name=spec.name).first()
        if advertiser is not None:
            self.result.count(advertiser, created=False)
            return advertiser
        advertiser = Advertiser(
            agency=owner,
            name=spec.name,
            currency=spec.currency,
            time_zone=spec.time_zone,
            domains=list(spec.domains),
        )
        advertiser.full_clean()
        advertiser.save()
        self._created(advertiser)
        return advertiser

    def membership(
        self, spec: DemoMembership, user: User, agency: Agency, advertisers: dict[str, Advertiser]
    ) -> Membership:
        scope: dict[str, Any] = (
            {"agency": agency} if spec.agency_slug else {"advertiser": advertisers[spec.advertiser]}
        )
        membership = Membership.objects.filter(user=user, **scope).first()
        if membership is not None:
            self.result.count(membership, created=False)
            return membership
        membership = Membership(user=user, role=spec.role, **scope)
        membership.full_clean()
        membership.save()
        self._created(membership)
        return membership

    # Inventory ------------------------------------------------------------------------------------

    def publisher(self, spec: DemoPublisher) -> list[Placement]:
        publisher = Publisher.objects.filter(name=spec.name).first()
        if publisher is None:
            publisher = Publisher(name=spec.name, domain=spec.domain)
            publisher.full_clean()
            publisher.save()
            self._created(publisher)
        else:
            self.result.count(publisher, created=False)
        return [self.placement(publisher, placement) for placement in spec.placements]

    def placement(self, publisher: Publisher, spec: DemoPlacement) -> Placement:
        placement = Placement.objects.filter(key=spec.key).first()
        if placement is not None:
            self.result.count(placement, created=False)
            return placement
        placement = Placement(
            publisher=publisher, key=spec.key, name=spec.name, format=spec.format, sizes=list(spec.sizes),
            floor_cpm_micros=parse_amount(spec.floor_usd, "USD"), daily_requests=spec.daily_requests,
        )  # fmt: skip
        placement.full_clean()
        placement.save()
        self._created(placement)
        return placement

    # Campaigns ------------------------------------------------------------------------------------

    def conversion_event(self, advertiser: Advertiser, spec: DemoConversionEvent) -> ConversionEvent:
        event = ConversionEvent.objects.filter(advertiser=advertiser, name=spec.name).first()
        if event is not None:
            self.result.count(event, created=False)
            return event
        default_value = parse_amount(spec.default_value, advertiser.currency) if spec.default_value else None
        event = services.create_conversion_event(
            advertiser=advertiser, actor=self.system, name=spec.name, category=spec.category,
            counting=spec.counting, click_window_days=spec.click_window_days,
            view_window_days=spec.view_window_days, default_value_micros=default_value,
        )  # fmt: skip
        self.result.count(event, created=True)
        return event

    def campaign(
        self,
        advertiser: Advertiser,
        brand: DemoAdvertiser,
        spec: DemoCampaign,
        events: dict[str, ConversionEvent],
        placements: dict[str, Placement],
    ) -> Campaign:
        # Any campaign of that name counts, archived or not: a reseed never brings back what was archived.
        campaign = Campaign.objects.filter(advertiser=advertiser, name=spec.name).order_by("-id").first()
        created = campaign is None
        if campaign is None:
            today = self.now.astimezone(advertiser.tz).date()
            midnight = datetime.combine(today, time.min, tzinfo=advertiser.tz)
            starts_at = midnight + timedelta(days=spec.starts_in_days)
            campaign = services.create_campaign(
                advertiser=advertiser, actor=self.system, name=spec.name, objective=spec.objective,
                budget_type=spec.budget_type, budget_micros=parse_amount(spec.budget, advertiser.currency),
                pacing=spec.pacing, starts_at=starts_at,
                ends_at=starts_at + timedelta(days=spec.runs_for_days) if spec.runs_for_days else None,
                frequency_cap_impressions=spec.frequency_cap[0] if spec.frequency_cap else None,
                frequency_cap_period=spec.frequency_cap[1] if spec.frequency_cap else "",
                conversion_event=events[spec.conversion_event] if spec.conversion_event else None,
            )  # fmt: skip
        self.result.count(campaign, created=created)
        for ad_group in spec.ad_groups:
            self.ad_group(campaign, brand, ad_group, placements)
        if created and spec.status != Campaign.Status.DRAFT:
            services.change_status(obj=campaign, action="activate", actor=self.system)
            if spec.status == Campaign.Status.PAUSED:
                services.change_status(obj=campaign, action="pause", actor=self.system)
        return campaign

    def ad_group(
        self, campaign: Campaign, brand: DemoAdvertiser, spec: DemoAdGroup, placements: dict[str, Placement]
    ) -> AdGroup:
        ad_group = AdGroup.objects.filter(campaign=campaign, name=spec.name).order_by("-id").first()
        if ad_group is None:
            targeting = dict(spec.targeting)
            if spec.placement_keys:
                targeting["placements_include"] = [placements[key].pk for key in spec.placement_keys]
            ad_group = services.create_ad_group(
                campaign=campaign, actor=self.system, name=spec.name, bid_strategy=spec.bid_strategy,
                bid_micros=parse_amount(spec.bid, campaign.advertiser.currency) if spec.bid else None,
                targeting=targeting,
            )  # fmt: skip
            self.result.count(ad_group, created=True)
        else:
            self.result.count(ad_group, created=False)
        for creative in spec.creatives:
            self.creative(ad_group, brand, creative)
        return ad_group

    def creative(self, ad_group: AdGroup, brand: DemoAdvertiser, spec: DemoCreative) -> Creative:
        creative = Creative.objects.filter(ad_group=ad_group, name=spec.name).order_by("-id").first()
        if creative is not None:
            self.result.count(creative, created=False)
            return creative
        landing_url = f"https://{brand.domains[0]}{spec.landing_path}"
        content: dict[str, Any] = {
            "headline": spec.headline, "body": spec.body, "call_to_action": spec.call_to_action,
        }  # fmt: skip
        if spec.size is not None:
            width, height = spec.size
            png = render_creative_image(
                width,
                height,
                brand=brand.name,
                tagline=brand.tagline,
                colour=brand.colour,
                accent=brand.accent,
            )
            content["image"] = ContentFile(png, name=f"{slugify(spec.name)}.png")
        if spec.format == VIDEO:
            ad_id = slugify(f"{brand.name} {spec.name}")
            content["vast_xml"] = vast_document(
                ad_id=ad_id, title=f"{brand.name}: {spec.name}", seconds=spec.video_seconds,
                media_url=f"https://media.{brand.domains[0]}/ads/{ad_id}.mp4", click_url=landing_url,
            )  # fmt: skip
        creative = services.create_creative(
            ad_group=ad_group, actor=self.system, name=spec.name, format=spec.format, landing_url=landing_url,
            category=brand.category, **content,
        )  # fmt: skip
        self.result.count(creative, created=True)
        if spec.review == "approve":
            services.review_creative(creative=creative, actor=self.reviewer, approve=True)
        elif spec.review == "reject":
            services.review_creative(
                creative=creative, actor=self.reviewer, approve=False,
                reasons=list(spec.rejection_reasons), note=spec.review_note,
            )  # fmt: skip
        return creative
