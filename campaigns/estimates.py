"""The audience estimate shown next to an ad group's targeting: how many ad requests a day match it,
how many impressions it could win, and how many people that is.

Until the traffic simulator defines the audience structure, the estimate is placement traffic
(`Placement.daily_requests` of the active placements the targeting can reach) times the share of
that traffic the targeting matches, from the documented assumptions below. Every number is derived
from the inputs, never random, so the same targeting always gives the same estimate; the simulator
issue replaces the constants, keeping `estimate(targeting, campaign) -> Estimate`.

Dimensions are treated as independent (the share of an ad group is the product of the shares of its
dimensions); within a dimension the chosen values add up (capped at everyone).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from math import prod

from campaigns.models import Campaign, Creative
from campaigns.targeting import Targeting

# Share of all traffic by country; countries not listed each bring DEFAULT_COUNTRY_SHARE.
COUNTRY_SHARE: dict[str, float] = {
    "US": 0.28,
    "IN": 0.07,
    "GB": 0.06,
    "DE": 0.06,
    "BR": 0.05,
    "FR": 0.05,
    "JP": 0.04,
    "CA": 0.03,
    "ES": 0.03,
    "IT": 0.03,
    "MX": 0.03,
    "AU": 0.02,
    "NL": 0.02,
    "ID": 0.02,
    "PL": 0.015,
    "SE": 0.01,
}
DEFAULT_COUNTRY_SHARE = 0.002
# A region (ISO 3166-2) is this share of all traffic, whichever it is.
REGION_SHARE = 0.01
# Share of traffic by browser language; languages not listed each bring DEFAULT_LANGUAGE_SHARE.
LANGUAGE_SHARE: dict[str, float] = {
    "en": 0.45,
    "es": 0.08,
    "de": 0.07,
    "fr": 0.06,
    "pt": 0.05,
    "ja": 0.04,
    "hi": 0.03,
    "it": 0.03,
    "nl": 0.02,
    "pl": 0.015,
    "zh": 0.03,
}
DEFAULT_LANGUAGE_SHARE = 0.003
# Age distribution of the audience: (first age, last age, share). Spread evenly within a band.
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (13, 17, 0.07),
    (18, 24, 0.15),
    (25, 34, 0.22),
    (35, 44, 0.19),
    (45, 54, 0.15),
    (55, 64, 0.12),
    (65, 100, 0.10),
)
GENDER_SHARE = {"female": 0.49, "male": 0.48, "unknown": 0.03}
DEVICE_SHARE = {"mobile": 0.58, "desktop": 0.31, "tablet": 0.08, "ctv": 0.03}
OS_SHARE = {
    "android": 0.41,
    "ios": 0.26,
    "windows": 0.21,
    "macos": 0.07,
    "linux": 0.015,
    "chromeos": 0.015,
    "other": 0.02,
}
# Each interest segment covers this share of people; several segments are an OR of independent ones.
INTEREST_SHARE = 0.12
# Each keyword matches this share of requests (page context); several keywords are an OR.
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
    traffic = list(placements.values_list("daily_requests", flat=True))
    share = match_share(targeting)
    daily_requests = round(sum(traffic) * share)
    return Estimate(
        daily_requests=daily_requests,
        daily_impressions=round(daily_requests * WIN_RATE),
        audience_size=round(daily_requests / REQUESTS_PER_PERSON_PER_DAY),
        placements=len(traffic),
        match_share=share,
    )


def match_share(targeting: Targeting) -> float:
    """The share of traffic (0..1) that the targeting matches."""
    return prod(
        (
            _geo_share(targeting),
            _sum_share(targeting.languages, LANGUAGE_SHARE, DEFAULT_LANGUAGE_SHARE),
            _age_share(targeting),
            _sum_share(targeting.genders, GENDER_SHARE, 0.0),
            _sum_share(targeting.device_types, DEVICE_SHARE, 0.0),
            _sum_share(targeting.operating_systems, OS_SHARE, 0.0),
            _any_of(len(targeting.interests), INTEREST_SHARE),
            _any_of(len(targeting.keywords), KEYWORD_SHARE),
            _daypart_share(targeting),
        )
    )


def _sum_share(values: list[str], table: dict[str, float], default: float) -> float:
    if not values:
        return 1.0
    return min(1.0, sum(table.get(value, default) for value in values))


def _geo_share(targeting: Targeting) -> float:
    if not targeting.countries and not targeting.regions:
        return 1.0
    countries = sum(COUNTRY_SHARE.get(code, DEFAULT_COUNTRY_SHARE) for code in targeting.countries)
    # A region inside a chosen country adds nothing: the country already counts it.
    regions = [code for code in targeting.regions if code.split("-")[0] not in targeting.countries]
    return min(1.0, countries + REGION_SHARE * len(regions))


def _age_share(targeting: Targeting) -> float:
    if not targeting.age_ranges:
        return 1.0
    ages = {age for r in targeting.age_ranges for age in range(r.min, r.max + 1)}
    return min(
        1.0,
        sum(
            share * len(ages & set(range(low, high + 1))) / (high - low + 1) for low, high, share in AGE_BANDS
        ),
    )


def _any_of(count: int, each: float) -> float:
    return 1.0 if count == 0 else 1.0 - (1.0 - each) ** count


def _daypart_share(targeting: Targeting) -> float:
    if targeting.dayparting is None:
        return 1.0
    return sum(hour for day in targeting.dayparting for hour in day) / HOURS_PER_WEEK
