"""The audience estimate shown next to an ad group's targeting: how many ad requests a day match it,
how many impressions it could win, and how many people that is.

Each reachable placement's traffic (`Placement.daily_requests`) times the share of its audience that
the targeting matches, from the audience structure of campaigns.audience: the same model the traffic
simulator draws its people and pages from, each placement with its publisher's audience skew, so
that what the estimate promises is what the simulated traffic delivers. Every number is derived
from the inputs, never random: the same targeting always gives the same estimate.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

from campaigns import audience
from campaigns.creative_specs import parse_size
from campaigns.models import Campaign, Creative
from campaigns.targeting import Targeting

# Each keyword the page model does not know matches this share of pages; several keywords are an OR.
KEYWORD_SHARE = 0.02
HOURS_PER_WEEK = 7 * 24
# Of the matching requests, the share an ad group typically wins in the auction at a fair bid.
WIN_RATE = 0.2
# A person makes this many ad requests a day on the network: turns requests into people.
REQUESTS_PER_PERSON_PER_DAY = 6


@dataclass(frozen=True, slots=True)
class Estimate:
    daily_requests: int  # ad requests a day on the reachable placements that match the targeting
    daily_impressions: int  # of those, what the ad group can expect to win
    audience_size: int  # people behind those requests
    placements: int  # reachable placements
    match_share: float  # share of the placements' traffic the targeting matches

    # Shown rounded, as Ads Managers do: the precision of the assumptions is not more than that.
    @property
    def audience_label(self) -> str:
        return approx(self.audience_size)

    @property
    def requests_label(self) -> str:
        return approx(self.daily_requests)

    @property
    def impressions_label(self) -> str:
        return approx(self.daily_impressions)

    @property
    def match_percent(self) -> str:
        percent = self.match_share * 100
        return f"{percent:.0f}%" if percent >= 10 or percent == 0 else f"{percent:.2g}%"


def approx(number: int) -> str:
    """1_234_567 -> '1.2M', 45_300 -> '45K', 870 -> '870'."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if number >= size:
            value = number / size
            return f"{value:.1f}".rstrip("0").rstrip(".") + suffix if value < 10 else f"{value:.0f}{suffix}"
    return str(number)


def estimate(targeting: Targeting, campaign: Campaign, *, formats: Collection[str] | None = None) -> Estimate:
    """The estimate for an ad group of `campaign` with this targeting, on placements of `formats`
    (the ad group's creatives' formats; every format when None)."""
    from delivery.models import Placement  # delivery depends on campaigns, not the other way round

    placements = Placement.objects.active().filter(format__in=formats or Creative.Format.values)
    if targeting.placements_include:
        placements = placements.filter(pk__in=targeting.placements_include)
    if targeting.placements_exclude:
        placements = placements.exclude(pk__in=targeting.placements_exclude)
    rows = list(placements.values_list("publisher__domain", "format", "sizes", "daily_requests"))
    total = sum(daily for *_, daily in rows)
    matched = 0.0
    for domain, fmt, sizes, daily in rows:
        skew = audience.placement_skew(domain, fmt, [parse_size(size) for size in sizes])
        matched += daily * match_share(targeting, skew)
    daily_requests = round(matched * _daypart_share(targeting))
    return Estimate(
        daily_requests=daily_requests,
        daily_impressions=round(daily_requests * WIN_RATE),
        audience_size=round(daily_requests / REQUESTS_PER_PERSON_PER_DAY),
        placements=len(rows),
        match_share=daily_requests / total if total else 0.0,
    )


def match_share(targeting: Targeting, skew: audience.AudienceSkew | None = None) -> float:
    """The share of a placement's traffic (0..1) that the targeting's people and pages match.

    Keywords the page model knows (campaigns.audience.TOPIC_KEYWORDS) are matched exactly against the
    placement's pages; a set of keywords none of which it knows is counted as KEYWORD_SHARE of pages
    each, rather than as no page at all: real sites carry words the model has never seen."""
    known = [k for k in targeting.keywords if k in _vocabulary()]
    share = audience.expected_share(
        skew,
        countries=targeting.countries,
        regions=targeting.regions,
        languages=targeting.languages,
        age_ranges=[(r.min, r.max) for r in targeting.age_ranges],
        genders=targeting.genders,
        device_types=targeting.device_types,
        operating_systems=targeting.operating_systems,
        interests=targeting.interests,
        keywords=known,
    )
    if targeting.keywords and not known:
        share *= 1.0 - (1.0 - KEYWORD_SHARE) ** len(targeting.keywords)
    return share


@cache
def _vocabulary() -> frozenset[str]:
    return frozenset(word for words in audience.TOPIC_KEYWORDS.values() for word in words)


def _daypart_share(targeting: Targeting) -> float:
    if targeting.dayparting is None:
        return 1.0
    return sum(hour for day in targeting.dayparting for hour in day) / HOURS_PER_WEEK
