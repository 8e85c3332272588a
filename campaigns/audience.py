"""Who the people behind the traffic are: the audience structure, as plain data.

The traffic simulator's world (delivery.simulator.world) draws its users from these tables, and a
placement's traffic from its `AudienceSkew`; `expected_share` answers, in closed form, which share of
a placement's human requests a targeting matches. The Ads Manager's audience estimate
(campaigns.estimates) uses the same numbers, so that what it promises is what the simulator
delivers. It lives in campaigns, which delivery may import and not the other way round; nothing here
imports Django.

The generative model, in the order the world draws it:
- geo: a (country, region) pair with its share of people and a representative IANA time zone;
  region "" where it is not known. Language is drawn given the geo (Quebec speaks French).
- age band (uniform age within it); the age is known to the platform for `AGE_KNOWN_SHARE` of people.
- gender, including "unknown" (people who did not say).
- device type, then operating system given the device.
- interests: each segment independently, with probability `interest_rate(country, age band, gender)`
  = base rate x age, gender and country multipliers, capped at `MAX_INTEREST_RATE`. People with no
  segment have unknown interests (an empty set).
- a placement sees people in proportion to their activity times its skew's multipliers: of the
  country, language, age band, gender and device, and of each interest the person has. Because the
  interest multipliers multiply per segment, a placement's audience keeps independent interests
  ("exponential tilting"), and `expected_share` stays exact.
- pages: a placement's page is about a topic (its skew's topic shares) and carries 1 to 3 of that
  topic's keywords, uniformly without replacement.

Targeting semantics follow delivery.engine: an empty list is no restriction; countries and regions
are one location dimension (either matches); unknown age fails an age restriction; gender "unknown"
matches only a targeting that names it; any one interest or keyword matches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from math import comb

import numpy as np

from campaigns.targeting import INTEREST_SEGMENTS

# ---------------------------------------------------------------------------------------------------
# Places and languages

# (country, region, share of the country, time zone, languages with shares); region "" = not known.
# Country shares come from COUNTRY_SHARES; a country's rows split it.
COUNTRY_SHARES: dict[str, float] = {
    "US": 0.28, "GB": 0.08, "FR": 0.08, "DE": 0.07, "IN": 0.07, "CA": 0.05, "BR": 0.05,
    "ES": 0.04, "IT": 0.04, "MX": 0.04, "AU": 0.03, "JP": 0.03, "NL": 0.025, "PL": 0.025,
    "BE": 0.02, "CH": 0.02, "ZA": 0.02, "IE": 0.015, "SE": 0.015,
}  # fmt: skip

_EN = (("en", 0.85), ("es", 0.15))
_GEO_ROWS: tuple[tuple[str, str, float, str, tuple[tuple[str, float], ...]], ...] = (
    ("US", "US-CA", 0.12, "America/Los_Angeles", (("en", 0.72), ("es", 0.28))),
    ("US", "US-TX", 0.09, "America/Chicago", (("en", 0.70), ("es", 0.30))),
    ("US", "US-FL", 0.065, "America/New_York", (("en", 0.78), ("es", 0.22))),
    ("US", "US-NY", 0.06, "America/New_York", _EN),
    ("US", "US-PA", 0.04, "America/New_York", (("en", 0.95), ("es", 0.05))),
    ("US", "US-IL", 0.04, "America/Chicago", _EN),
    ("US", "US-OH", 0.035, "America/New_York", (("en", 0.96), ("es", 0.04))),
    ("US", "US-GA", 0.032, "America/New_York", (("en", 0.92), ("es", 0.08))),
    ("US", "US-NC", 0.032, "America/New_York", (("en", 0.92), ("es", 0.08))),
    ("US", "US-MI", 0.03, "America/New_York", (("en", 0.96), ("es", 0.04))),
    ("US", "US-NJ", 0.028, "America/New_York", _EN),
    ("US", "US-VA", 0.026, "America/New_York", (("en", 0.93), ("es", 0.07))),
    ("US", "US-WA", 0.025, "America/Los_Angeles", (("en", 0.92), ("es", 0.08))),
    ("US", "US-AZ", 0.022, "America/Phoenix", (("en", 0.75), ("es", 0.25))),
    ("US", "US-MA", 0.021, "America/New_York", (("en", 0.93), ("es", 0.07))),
    ("US", "US-TN", 0.021, "America/Chicago", (("en", 0.95), ("es", 0.05))),
    ("US", "US-IN", 0.02, "America/Indiana/Indianapolis", (("en", 0.95), ("es", 0.05))),
    ("US", "US-CO", 0.018, "America/Denver", (("en", 0.86), ("es", 0.14))),
    ("US", "US-MO", 0.018, "America/Chicago", (("en", 0.96), ("es", 0.04))),
    ("US", "US-WI", 0.018, "America/Chicago", (("en", 0.95), ("es", 0.05))),
    ("US", "US-MN", 0.017, "America/Chicago", (("en", 0.95), ("es", 0.05))),
    ("US", "US-OR", 0.013, "America/Los_Angeles", (("en", 0.91), ("es", 0.09))),
    ("US", "US-UT", 0.01, "America/Denver", (("en", 0.89), ("es", 0.11))),
    ("US", "", 0.199, "America/Chicago", _EN),
    ("CA", "CA-ON", 0.39, "America/Toronto", (("en", 0.95), ("fr", 0.05))),
    ("CA", "CA-QC", 0.22, "America/Toronto", (("fr", 0.80), ("en", 0.20))),
    ("CA", "CA-BC", 0.14, "America/Vancouver", (("en", 1.0),)),
    ("CA", "CA-AB", 0.12, "America/Edmonton", (("en", 1.0),)),
    ("CA", "", 0.13, "America/Toronto", (("en", 0.9), ("fr", 0.1))),
    ("GB", "GB-ENG", 0.84, "Europe/London", (("en", 0.97), ("pl", 0.03))),
    ("GB", "GB-SCT", 0.08, "Europe/London", (("en", 1.0),)),
    ("GB", "GB-WLS", 0.05, "Europe/London", (("en", 1.0),)),
    ("GB", "GB-NIR", 0.03, "Europe/London", (("en", 1.0),)),
    ("AU", "AU-NSW", 0.32, "Australia/Sydney", (("en", 0.95), ("zh", 0.05))),
    ("AU", "AU-VIC", 0.26, "Australia/Melbourne", (("en", 0.95), ("zh", 0.05))),
    ("AU", "AU-QLD", 0.20, "Australia/Brisbane", (("en", 1.0),)),
    ("AU", "AU-WA", 0.11, "Australia/Perth", (("en", 1.0),)),
    ("AU", "", 0.11, "Australia/Sydney", (("en", 1.0),)),
    ("FR", "", 1.0, "Europe/Paris", (("fr", 0.96), ("en", 0.04))),
    ("DE", "", 1.0, "Europe/Berlin", (("de", 0.93), ("en", 0.04), ("tr", 0.03))),
    ("IN", "", 1.0, "Asia/Kolkata", (("en", 0.55), ("hi", 0.45))),
    ("BR", "", 1.0, "America/Sao_Paulo", (("pt", 1.0),)),
    ("ES", "", 1.0, "Europe/Madrid", (("es", 0.90), ("ca", 0.10))),
    ("IT", "", 1.0, "Europe/Rome", (("it", 0.97), ("en", 0.03))),
    ("MX", "", 1.0, "America/Mexico_City", (("es", 1.0),)),
    ("JP", "", 1.0, "Asia/Tokyo", (("ja", 1.0),)),
    ("NL", "", 1.0, "Europe/Amsterdam", (("nl", 0.92), ("en", 0.08))),
    ("PL", "", 1.0, "Europe/Warsaw", (("pl", 1.0),)),
    ("BE", "", 1.0, "Europe/Brussels", (("nl", 0.58), ("fr", 0.40), ("de", 0.02))),
    ("CH", "", 1.0, "Europe/Zurich", (("de", 0.62), ("fr", 0.26), ("it", 0.08), ("en", 0.04))),
    ("ZA", "", 1.0, "Africa/Johannesburg", (("en", 0.70), ("af", 0.30))),
    ("IE", "", 1.0, "Europe/Dublin", (("en", 0.97), ("ga", 0.03))),
    ("SE", "", 1.0, "Europe/Stockholm", (("sv", 0.90), ("en", 0.10))),
)


@dataclass(frozen=True, slots=True)
class Geo:
    country: str  # ISO 3166-1 alpha-2
    region: str  # ISO 3166-2, "" when not known
    share: float  # of all people
    time_zone: str  # IANA, representative of the region or country
    languages: tuple[tuple[str, float], ...]  # ISO 639-1 codes with their shares in this geo


GEOS: tuple[Geo, ...] = tuple(
    Geo(country, region, COUNTRY_SHARES[country] * part, zone, languages)
    for country, region, part, zone, languages in _GEO_ROWS
)
COUNTRIES: tuple[str, ...] = tuple(dict.fromkeys(geo.country for geo in GEOS))
LANGUAGES: tuple[str, ...] = tuple(dict.fromkeys(lang for geo in GEOS for lang, _ in geo.languages))

# ---------------------------------------------------------------------------------------------------
# People

# (label, min age, max age, share); ages are uniform within a band.
AGE_BANDS: tuple[tuple[str, int, int, float], ...] = (
    ("13-17", 13, 17, 0.05),
    ("18-24", 18, 24, 0.14),
    ("25-34", 25, 34, 0.21),
    ("35-44", 35, 44, 0.19),
    ("45-54", 45, 54, 0.16),
    ("55-64", 55, 64, 0.14),
    ("65+", 65, 84, 0.11),
)
AGE_KNOWN_SHARE = 0.85  # the others never said: Context.age is None
GENDERS: tuple[tuple[str, float], ...] = (("female", 0.49), ("male", 0.47), ("unknown", 0.04))
DEVICES: tuple[tuple[str, float], ...] = (
    ("desktop", 0.33),
    ("mobile", 0.56),
    ("tablet", 0.07),
    ("ctv", 0.04),
)
OS_BY_DEVICE: dict[str, tuple[tuple[str, float], ...]] = {
    "desktop": (("windows", 0.68), ("macos", 0.22), ("chromeos", 0.06), ("linux", 0.03), ("other", 0.01)),
    "mobile": (("android", 0.62), ("ios", 0.38)),
    "tablet": (("ios", 0.58), ("android", 0.42)),
    "ctv": (("other", 0.65), ("android", 0.35)),
}
OPERATING_SYSTEMS: tuple[str, ...] = tuple(
    dict.fromkeys(name for pairs in OS_BY_DEVICE.values() for name, _ in pairs)
)

# Probability that a person of the average band, gender and country follows each segment.
INTEREST_BASE_RATES: dict[str, float] = {
    "automotive": 0.08, "beauty": 0.08, "books": 0.07, "business": 0.08, "cooking": 0.12,
    "education": 0.06, "entertainment": 0.18, "family": 0.10, "fashion": 0.10, "finance": 0.07,
    "fitness": 0.10, "gaming": 0.09, "health": 0.09, "home_garden": 0.07, "music": 0.12,
    "news": 0.15, "outdoors": 0.07, "pets": 0.08, "real_estate": 0.04, "science": 0.04,
    "shopping": 0.15, "sports": 0.12, "technology": 0.11, "travel": 0.11,
}  # fmt: skip
INTEREST_BY_AGE_BAND: dict[str, dict[str, float]] = {
    "13-17": {"gaming": 2.5, "music": 1.6, "entertainment": 1.4, "education": 1.8, "finance": 0.2,
              "real_estate": 0.05, "business": 0.2, "family": 0.3, "home_garden": 0.3, "news": 0.4},
    "18-24": {"gaming": 1.8, "music": 1.5, "fashion": 1.4, "fitness": 1.3, "education": 1.5,
              "real_estate": 0.4, "family": 0.5, "news": 0.6},
    "25-34": {"fitness": 1.3, "travel": 1.2, "family": 1.2, "technology": 1.2, "real_estate": 1.3},
    "35-44": {"family": 1.6, "home_garden": 1.3, "real_estate": 1.4, "finance": 1.2, "gaming": 0.8},
    "45-54": {"home_garden": 1.4, "finance": 1.3, "news": 1.3, "travel": 1.1, "gaming": 0.5},
    "55-64": {"news": 1.6, "home_garden": 1.5, "health": 1.4, "travel": 1.3, "gaming": 0.3,
              "fashion": 0.7, "music": 0.7},
    "65+": {"news": 1.8, "health": 1.7, "home_garden": 1.4, "books": 1.4, "gaming": 0.2, "fashion": 0.5,
            "music": 0.5, "fitness": 0.6},
}  # fmt: skip
INTEREST_BY_GENDER: dict[str, dict[str, float]] = {
    "female": {"beauty": 2.4, "fashion": 1.7, "cooking": 1.3, "family": 1.3, "health": 1.2,
               "automotive": 0.5, "gaming": 0.7, "sports": 0.7, "technology": 0.8},
    "male": {"beauty": 0.25, "fashion": 0.5, "automotive": 1.5, "gaming": 1.3, "sports": 1.35,
             "technology": 1.2, "finance": 1.15},
    "unknown": {},
}  # fmt: skip
INTEREST_BY_COUNTRY: dict[str, dict[str, float]] = {
    "US": {"sports": 1.1, "shopping": 1.1}, "CA": {"outdoors": 1.4}, "GB": {"news": 1.1, "sports": 1.2},
    "FR": {"cooking": 1.3, "fashion": 1.2, "beauty": 1.2}, "IT": {"cooking": 1.4, "fashion": 1.3},
    "ES": {"sports": 1.2, "travel": 1.1}, "DE": {"automotive": 1.3, "technology": 1.1, "outdoors": 1.2},
    "CH": {"outdoors": 1.5, "finance": 1.3}, "IE": {"sports": 1.2}, "SE": {"outdoors": 1.3},
    "NL": {"travel": 1.2}, "AU": {"outdoors": 1.3, "sports": 1.2, "travel": 1.2},
    "JP": {"gaming": 1.4, "technology": 1.2}, "IN": {"technology": 1.3, "education": 1.4, "business": 1.2},
    "BR": {"sports": 1.4, "music": 1.2}, "MX": {"sports": 1.2, "music": 1.1},
}  # fmt: skip
MAX_INTEREST_RATE = 0.85

# What pages of each topic are about, in the words ad groups target (delivery.demo's keywords too).
TOPIC_KEYWORDS: dict[str, tuple[str, ...]] = {
    "automotive": ("electric cars", "car review", "suv", "car insurance"),
    "beauty": ("sunscreen", "crème solaire", "soin visage", "skincare routine", "makeup"),
    "books": ("book review", "bestsellers", "novels", "audiobooks"),
    "business": ("startups", "markets", "leadership", "small business"),
    "cooking": ("specialty coffee", "coffee subscription", "flat white", "easy dinner recipes", "baking",
                "sourdough"),
    "education": ("online courses", "study tips", "university", "language learning"),
    "entertainment": ("movies", "tv series", "celebrities", "streaming"),
    "family": ("parenting", "kids activities", "family holidays", "baby"),
    "fashion": ("summer dresses", "sneakers", "street style", "sunglasses"),
    "finance": ("mortgages", "savings", "investing", "credit cards"),
    "fitness": ("trail running shoes", "running", "yoga", "home workout", "marathon training"),
    "gaming": ("video games", "console", "esports", "game review"),
    "health": ("sleep", "nutrition", "wellbeing", "vitamins"),
    "home_garden": ("garden", "interior design", "diy", "houseplants"),
    "music": ("concerts", "new albums", "playlists", "festivals"),
    "news": ("politics", "world news", "elections", "weather"),
    "outdoors": ("hiking boots", "trail gear", "backpacking", "camping", "ski sale", "climbing"),
    "pets": ("dog food", "cats", "pet insurance", "puppy training"),
    "real_estate": ("homes for sale", "renting", "property prices", "mortgage rates"),
    "science": ("space", "climate", "physics", "biology"),
    "shopping": ("deals", "gift ideas", "black friday", "coupons"),
    "sports": ("football", "tennis", "cycling", "basketball"),
    "technology": ("smartphones", "laptops", "ai", "gadgets"),
    "travel": ("cheap flights", "city breaks", "hotels", "road trips"),
}  # fmt: skip
KEYWORDS_PER_PAGE = (1, 2, 3)  # equally likely


# ---------------------------------------------------------------------------------------------------
# A placement's audience


@dataclass(frozen=True, slots=True)
class AudienceSkew:
    """How a placement's traffic differs from everyone's: multipliers on each person's chance of being
    in it (1 where not named), and what its pages are about."""

    countries: Mapping[str, float] = field(default_factory=dict)
    languages: Mapping[str, float] = field(default_factory=dict)
    age_bands: Mapping[str, float] = field(default_factory=dict)  # by AGE_BANDS label
    genders: Mapping[str, float] = field(default_factory=dict)
    devices: Mapping[str, float] = field(default_factory=dict)
    interests: Mapping[str, float] = field(default_factory=dict)  # per segment the person has
    topics: tuple[tuple[str, float], ...] = (("news", 0.4), ("entertainment", 0.6))  # page topics


# The demo's publishers (delivery.demo), by domain; others get a default from their domain.
PUBLISHER_AUDIENCES: dict[str, AudienceSkew] = {
    "dailyledger.news": AudienceSkew(
        languages={"en": 3.0},
        countries={"US": 1.5, "GB": 1.5, "IE": 1.3, "CA": 1.2, "AU": 1.2},
        age_bands={"13-17": 0.4, "18-24": 0.7, "45-54": 1.3, "55-64": 1.5, "65+": 1.5},
        interests={"news": 3.0, "business": 2.0, "finance": 2.0, "technology": 1.3, "science": 1.3},
        topics=(("news", 0.40), ("business", 0.12), ("finance", 0.08), ("technology", 0.08),
                ("sports", 0.10), ("entertainment", 0.07), ("beauty", 0.05), ("fashion", 0.04),
                ("travel", 0.06)),
    ),
    "trailheadmag.com": AudienceSkew(
        languages={"en": 2.5},
        countries={"US": 1.5, "CA": 1.5, "CH": 1.3},
        age_bands={"13-17": 0.5, "25-34": 1.3, "35-44": 1.3, "65+": 0.6},
        interests={"outdoors": 4.0, "fitness": 2.5, "travel": 1.8, "sports": 1.8},
        topics=(("outdoors", 0.50), ("fitness", 0.20), ("travel", 0.15), ("sports", 0.15)),
    ),
    "pocketrecipes.app": AudienceSkew(
        devices={"mobile": 2.5, "tablet": 2.5, "desktop": 0.2, "ctv": 0.05},  # an app
        genders={"female": 1.4},
        interests={"cooking": 4.0, "home_garden": 2.0, "family": 1.8, "health": 1.5},
        topics=(("cooking", 0.70), ("health", 0.10), ("family", 0.10), ("home_garden", 0.10)),
    ),
}  # fmt: skip

# Where a placement's format and sizes put it: phones only see narrow banners, televisions video.
_NARROW_BANNER = {"mobile": 3.0, "desktop": 0.05, "ctv": 0.01}
_WIDE_BANNER = {"desktop": 2.0, "mobile": 0.1, "ctv": 0.01}
_VIDEO = {"ctv": 3.0, "desktop": 1.2, "mobile": 0.8}
_NO_VIDEO = {"ctv": 0.01}  # a banner or native slot has no television to be seen on


def publisher_skew(domain: str) -> AudienceSkew:
    """A publisher's audience: the table's, or two interests chosen from its domain (stable)."""
    if domain in PUBLISHER_AUDIENCES:
        return PUBLISHER_AUDIENCES[domain]
    digest = hashlib.sha256(domain.encode()).digest()
    first = INTEREST_SEGMENTS[digest[0] % len(INTEREST_SEGMENTS)]
    second = INTEREST_SEGMENTS[digest[1] % len(INTEREST_SEGMENTS)]
    if second == first:
        second = INTEREST_SEGMENTS[(digest[1] + 1) % len(INTEREST_SEGMENTS)]
    return AudienceSkew(
        interests={first: 2.5, second: 2.5},
        topics=((first, 0.35), (second, 0.35), ("news", 0.1), ("entertainment", 0.2)),
    )


def placement_skew(domain: str, format: str, sizes: Iterable[tuple[int, int]]) -> AudienceSkew:
    """The publisher's audience, narrowed to the devices the placement's format and sizes reach."""
    base = publisher_skew(domain)
    widths = [width for width, _ in sizes]
    if format == "video":
        devices = _VIDEO
    elif widths and max(widths) <= 320:
        devices = _NARROW_BANNER
    elif widths and min(widths) >= 728:
        devices = _WIDE_BANNER
    else:
        devices = _NO_VIDEO
    combined = {device: base.devices.get(device, 1.0) * devices.get(device, 1.0) for device, _ in DEVICES}
    return AudienceSkew(
        countries=base.countries, languages=base.languages, age_bands=base.age_bands,
        genders=base.genders, devices=combined, interests=base.interests, topics=base.topics,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# The structure as arrays (what the world samples from and `expected_share` sums over)


@cache
def interest_rates() -> np.ndarray:
    """P(segment) for (country, age band, gender, segment), indexed like COUNTRIES, AGE_BANDS, GENDERS
    and INTEREST_SEGMENTS."""
    base = np.array([INTEREST_BASE_RATES[s] for s in INTEREST_SEGMENTS])
    rates = np.empty((len(COUNTRIES), len(AGE_BANDS), len(GENDERS), len(INTEREST_SEGMENTS)))
    for c, country in enumerate(COUNTRIES):
        by_country = _multipliers(INTEREST_BY_COUNTRY.get(country, {}))
        for b, (band, *_) in enumerate(AGE_BANDS):
            by_band = _multipliers(INTEREST_BY_AGE_BAND.get(band, {}))
            for g, (gender, _) in enumerate(GENDERS):
                rates[c, b, g] = base * by_country * by_band * _multipliers(INTEREST_BY_GENDER[gender])
    rates = np.minimum(rates, MAX_INTEREST_RATE)
    rates.setflags(write=False)
    return rates


def _multipliers(by_segment: Mapping[str, float]) -> np.ndarray:
    return np.array([by_segment.get(s, 1.0) for s in INTEREST_SEGMENTS])


def _vector(names: Sequence[str], lifts: Mapping[str, float]) -> np.ndarray:
    return np.array([lifts.get(name, 1.0) for name in names], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Tilted:
    """The arrays of a skew's audience, unnormalised."""

    geo: np.ndarray  # (geo, language): P(geo) P(language | geo) x multipliers
    band: np.ndarray  # (band,)
    gender: np.ndarray  # (gender,)
    device_os: np.ndarray  # (device, os)
    interest_norm: np.ndarray  # (country, band, gender): E[prod of interest multipliers]
    interest: np.ndarray  # (country, band, gender, segment): P(segment) in the skewed audience


def _tilt(skew: AudienceSkew) -> _Tilted:
    geo = np.zeros((len(GEOS), len(LANGUAGES)))
    for i, g in enumerate(GEOS):
        for lang, share in g.languages:
            geo[i, LANGUAGES.index(lang)] = g.share * share
    geo *= _vector([g.country for g in GEOS], skew.countries)[:, None]
    geo *= _vector(LANGUAGES, skew.languages)[None, :]
    band = np.array([share for *_, share in AGE_BANDS]) * _vector([b[0] for b in AGE_BANDS], skew.age_bands)
    gender = np.array([share for _, share in GENDERS]) * _vector([g for g, _ in GENDERS], skew.genders)
    device_os = np.zeros((len(DEVICES), len(OPERATING_SYSTEMS)))
    for d, (device, share) in enumerate(DEVICES):
        for os_name, os_share in OS_BY_DEVICE[device]:
            device_os[d, OPERATING_SYSTEMS.index(os_name)] = share * os_share
    device_os *= _vector([d for d, _ in DEVICES], skew.devices)[:, None]
    rates = interest_rates()
    lift = _vector(INTEREST_SEGMENTS, skew.interests)
    per_segment = 1.0 - rates + rates * lift
    return _Tilted(
        geo=geo,
        band=band,
        gender=gender,
        device_os=device_os,
        interest_norm=per_segment.prod(axis=-1),
        interest=rates * lift / per_segment,
    )


def _age_fraction(age_ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    """Per band, the share of its (whole, uniform) ages inside any of the ranges."""
    out = np.zeros(len(AGE_BANDS))
    for b, (_, low, high, _) in enumerate(AGE_BANDS):
        ages = set(range(low, high + 1))
        inside = {age for age in ages for lo, hi in age_ranges if lo <= age <= hi}
        out[b] = len(inside) / len(ages)
    return out


def keyword_share(skew: AudienceSkew, keywords: Iterable[str]) -> float:
    """The share of the placement's pages that carry at least one of the keywords."""
    wanted = set(keywords)
    if not wanted:
        return 1.0
    total = sum(share for _, share in skew.topics)
    matched = 0.0
    for topic, share in skew.topics:
        vocabulary = TOPIC_KEYWORDS[topic]
        hits = sum(1 for word in vocabulary if word in wanted)
        misses = len(vocabulary) - hits
        # One to three keywords drawn without replacement: the chance none of the hits is drawn.
        none = sum(comb(misses, k) / comb(len(vocabulary), k) for k in KEYWORDS_PER_PAGE) / len(
            KEYWORDS_PER_PAGE
        )
        matched += share * (1.0 - none)
    return matched / total


def expected_share(
    skew: AudienceSkew | None = None,
    *,
    countries: Iterable[str] = (),
    regions: Iterable[str] = (),
    languages: Iterable[str] = (),
    age_ranges: Iterable[tuple[int, int]] = (),
    genders: Iterable[str] = (),
    device_types: Iterable[str] = (),
    operating_systems: Iterable[str] = (),
    interests: Iterable[str] = (),
    keywords: Iterable[str] = (),
) -> float:
    """The share of a placement's human requests (everyone's, without a skew) that a targeting matches.

    Exact for the model above: multiply by a placement's daily requests (and 1 - the bot share) for
    the requests a day an ad group can bid on there. Placement include/exclude, schedules and
    dayparting are the caller's to apply.
    """
    t = _tilt(skew or AudienceSkew())
    countries, regions = set(countries), set(regions)
    languages, genders = set(languages), set(genders)
    devices, systems = set(device_types), set(operating_systems)
    segments = [INTEREST_SEGMENTS.index(s) for s in set(interests) if s in INTEREST_SEGMENTS]
    ranges = [(int(lo), int(hi)) for lo, hi in age_ranges]

    if countries or regions:
        geo_ok = np.array([g.country in countries or (g.region != "" and g.region in regions) for g in GEOS])
    else:
        geo_ok = np.ones(len(GEOS), dtype=bool)
    lang_ok = np.array([not languages or lang in languages for lang in LANGUAGES])
    geo_all = _per_country(t.geo.sum(axis=1))
    geo_hit = _per_country((t.geo * lang_ok[None, :]).sum(axis=1) * geo_ok)

    band_hit = t.band * (_age_fraction(ranges) * AGE_KNOWN_SHARE if ranges else 1.0)
    gender_hit = t.gender * np.array([not genders or g in genders for g, _ in GENDERS])
    device_ok = np.array([not devices or d in devices for d, _ in DEVICES])
    os_ok = np.array([not systems or o in systems for o in OPERATING_SYSTEMS])
    device_share = (t.device_os * device_ok[:, None] * os_ok[None, :]).sum() / t.device_os.sum()
    if segments:
        interest_hit = 1.0 - np.prod(1.0 - t.interest[..., segments], axis=-1)
    else:
        interest_hit = np.ones(t.interest_norm.shape)

    weight_all = geo_all[:, None, None] * t.band[None, :, None] * t.gender[None, None, :] * t.interest_norm
    weight_hit = (
        geo_hit[:, None, None] * band_hit[None, :, None] * gender_hit[None, None, :] * t.interest_norm
    )
    people = float((weight_hit * interest_hit).sum() / weight_all.sum())
    return people * float(device_share) * keyword_share(skew or AudienceSkew(), keywords)


def _per_country(per_geo: np.ndarray) -> np.ndarray:
    out = np.zeros(len(COUNTRIES))
    np.add.at(out, [COUNTRIES.index(g.country) for g in GEOS], per_geo)
    return out


def audience_shares(skew: AudienceSkew | None = None) -> dict[str, dict[str, float]]:
    """Marginal shares of a placement's human audience (everyone's without a skew), by dimension:
    country, language, age band, gender, device type, operating system and interest segment (the
    share of people who follow it; a person follows several)."""
    skew = skew or AudienceSkew()
    return {
        "countries": {c: expected_share(skew, countries=[c]) for c in COUNTRIES},
        "languages": {lang: expected_share(skew, languages=[lang]) for lang in LANGUAGES},
        "age_bands": {
            label: expected_share(skew, age_ranges=[(low, high)]) / AGE_KNOWN_SHARE
            for label, low, high, _ in AGE_BANDS
        },
        "genders": {g: expected_share(skew, genders=[g]) for g, _ in GENDERS},
        "device_types": {d: expected_share(skew, device_types=[d]) for d, _ in DEVICES},
        "operating_systems": {o: expected_share(skew, operating_systems=[o]) for o in OPERATING_SYSTEMS},
        "interests": {s: expected_share(skew, interests=[s]) for s in INTEREST_SEGMENTS},
    }
