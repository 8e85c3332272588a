"""The simulator's world: a seeded population of people, bots and click spammers, and the placements
they visit, as numpy columns.

People are drawn from the audience structure (campaigns.audience). Each has a stable user
key, IP address and browser, and an activity weight: heavy-tailed (log-normal), so a few people see
many ads a day, which is what makes frequency caps and ad fatigue matter. Bots (crawlers, HTTP
libraries, headless browsers) and click spammers are extra identities after the people; the traffic
module decides how much of each it sends.

A placement's traffic picks people by activity times the placement's audience skew; the weights are
kept as one cumulative array per audience profile, over people sorted by geo, so that picking people
of one geo for one placement is a `searchsorted` on a slice.

Everything is a pure function of the seed and the placements passed in: `World.build` with the same
arguments gives the same world, user for user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from numpy.random import PCG64, Generator

from campaigns import audience
from campaigns.audience import AGE_BANDS, DEVICES, GENDERS, GEOS, LANGUAGES, OS_BY_DEVICE
from campaigns.targeting import INTEREST_SEGMENTS
from delivery.request import PlacementInfo, Slot

DEFAULT_USERS = 200_000
ACTIVITY_SIGMA = 1.0  # log-normal spread of how much each person browses
N_BOTS = 60
N_CLICK_SPAMMERS = 3

# People's addresses come from 198.18.0.0/15 (RFC 2544, set aside for benchmarks): never a real user.
_IP_BASE = (198 << 24) | (18 << 16)
_HUMAN_IPS = 0x1F000  # 198.18.0.0 - 198.19.239.255; the rest of the /15 is for bots and spammers
_BOT_IPS = _IP_BASE + _HUMAN_IPS  # 198.19.240.0/21
_SPAM_IPS = _IP_BASE + _HUMAN_IPS + 0x800  # 198.19.248.0/21

KIND_HUMAN, KIND_BOT, KIND_CLICK_SPAM = 0, 1, 2

# Browsers by (device, operating system): what people's requests say they are.
USER_AGENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("desktop", "windows"): (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ),
    ("desktop", "macos"): (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Safari/605.1.15",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
    ),
    ("desktop", "linux"): (
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
    ),
    ("desktop", "chromeos"): (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
    ),
    ("desktop", "other"): ("Mozilla/5.0 (X11; FreeBSD amd64; rv:125.0) Gecko/20100101 Firefox/125.0",),
    ("mobile", "android"): (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.113 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    ),
    ("mobile", "ios"): (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/124.0.6367.111 Mobile/15E148 Safari/604.1",
    ),
    ("tablet", "ios"): (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
    ),
    ("tablet", "android"): (
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
    ),
    ("ctv", "other"): (
        "Mozilla/5.0 (SMART-TV; Linux; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "94.0.4606.31/7.0 TV Safari/537.36",
    ),
    ("ctv", "android"): (
        "Mozilla/5.0 (Linux; Android 12; Chromecast) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 CrKey/1.56.500000 DeviceType/AndroidTV",
    ),
}
# What invalid traffic says it is: crawlers announce themselves, scripts name their HTTP library.
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.31.0",
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 "
    "Safari/537.36",
)
# Click spammers pass for people: a common phone browser, interests broad enough to be targeted.
_SPAM_GEOS = (("US", ""), ("GB", "GB-ENG"), ("FR", ""))
_SPAM_INTERESTS = frozenset({"shopping", "technology", "outdoors", "beauty", "cooking", "fitness", "travel"})
_BOT_GEOS = (("US", "US-VA"), ("IE", ""), ("DE", ""), ("NL", ""))


@dataclass(frozen=True, slots=True)
class TrafficPlacement:
    """A placement as the simulator sends traffic to it: the serving view, plus its daily volume."""

    info: PlacementInfo
    daily_requests: int


def load_placements() -> list[TrafficPlacement]:
    """The active placements, in one query (the simulator's, not the serving path's)."""
    from delivery.models import Placement  # the world itself runs without Django models

    return [
        TrafficPlacement(info=placement.info(), daily_requests=placement.daily_requests)
        for placement in Placement.objects.active().select_related("publisher").order_by("id")
    ]


@dataclass(slots=True)
class Profile:
    """One audience profile's sampling weights over the world's people (sorted by geo)."""

    skew: audience.AudienceSkew
    cumulative: np.ndarray  # cumsum of the people's weights
    geo_weight: np.ndarray  # total weight per geo


@dataclass(slots=True)
class Pages:
    """A publisher's pages: what each is about, its keywords and URL, and how often it is read."""

    topic: np.ndarray  # index into INTEREST_SEGMENTS
    url: list[str]
    keywords: list[frozenset[str]]
    cumulative: np.ndarray  # cumulative probability of each page


@dataclass(slots=True)
class World:
    seed: int
    placements: tuple[TrafficPlacement, ...]
    n_users: int  # people; identities after them are click spammers, then bots
    # One entry per identity (people, spammers, bots)
    kind: np.ndarray  # KIND_*
    geo: np.ndarray  # index into GEOS
    language: np.ndarray  # index into LANGUAGES
    age: np.ndarray  # whole years (spammers: 0, unknown)
    age_known: np.ndarray  # bool
    band: np.ndarray  # index into AGE_BANDS
    gender: np.ndarray  # index into GENDERS
    device: np.ndarray  # index into DEVICES
    os: np.ndarray  # index into audience.OPERATING_SYSTEMS
    interests: np.ndarray  # (identity, segment) bool
    activity: np.ndarray  # how much each person browses (people only)
    geo_bounds: np.ndarray  # people [geo_bounds[g], geo_bounds[g + 1]) live in geo g
    # Per placement (same order as `placements`)
    profile_of: np.ndarray  # index into `profiles`
    profiles: list[Profile]
    slots: list[Slot]
    pages: dict[int, Pages]  # by publisher id
    # Per identity, ready for building requests
    user_keys: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)
    interest_sets: list[frozenset[str]] = field(default_factory=list)

    @classmethod
    def build(cls, seed: int, placements: list[TrafficPlacement], n_users: int = DEFAULT_USERS) -> World:
        rng = Generator(PCG64(seed))
        people = _people(rng, n_users)
        spam = _spammers()
        bots = _bots(people, donors=rng.integers(0, n_users, N_BOTS) if n_users else np.zeros(0, np.int64))

        def column(name: str) -> np.ndarray:
            return np.concatenate([people[name], spam[name], bots[name]])

        interests = column("interests")
        geo_bounds = np.searchsorted(people["geo"], np.arange(len(GEOS) + 1))
        placements = sorted(placements, key=lambda p: p.info.id)

        profiles: list[Profile] = []
        profile_keys: dict[tuple[Any, ...], int] = {}
        profile_of = np.zeros(len(placements), dtype=np.int64)
        for i, placement in enumerate(placements):
            info = placement.info
            key = (info.publisher_domain, info.format, tuple(sorted(info.sizes)))
            if key not in profile_keys:
                skew = audience.placement_skew(info.publisher_domain, info.format, info.sizes)
                profile_keys[key] = len(profiles)
                profiles.append(_profile(skew, people, interests[:n_users]))
            profile_of[i] = profile_keys[key]

        pages: dict[int, Pages] = {}
        for placement in placements:
            info = placement.info
            if info.publisher_id not in pages:
                skew = audience.publisher_skew(info.publisher_domain)
                pages[info.publisher_id] = _pages(info.publisher_domain, skew)

        ips = np.concatenate([
            _IP_BASE + rng.integers(0, _HUMAN_IPS, n_users),
            _SPAM_IPS + np.arange(N_CLICK_SPAMMERS) * 7 + 1,
            _BOT_IPS + np.arange(N_BOTS) * 3 + 1,
        ])  # fmt: skip
        agents = [
            USER_AGENTS[(DEVICES[d][0], audience.OPERATING_SYSTEMS[o])]
            for d, o in zip(people["device"].tolist(), people["os"].tolist(), strict=True)
        ]
        picks = rng.integers(0, 1 << 30, n_users)
        human_agents = [
            options[pick % len(options)] for options, pick in zip(agents, picks.tolist(), strict=True)
        ]
        spam_agents = [USER_AGENTS[("mobile", "android")][0]] * N_CLICK_SPAMMERS
        bot_agents = [BOT_USER_AGENTS[i % len(BOT_USER_AGENTS)] for i in range(N_BOTS)]

        world = cls(
            seed=seed,
            placements=tuple(placements),
            n_users=n_users,
            interests=interests,
            activity=people["activity"],
            geo_bounds=geo_bounds,
            profile_of=profile_of,
            profiles=profiles,
            slots=[Slot.for_placement(p.info) for p in placements],
            pages=pages,
            kind=column("kind"),
            geo=column("geo"),
            language=column("language"),
            age=column("age"),
            age_known=column("age_known"),
            band=column("band"),
            gender=column("gender"),
            device=column("device"),
            os=column("os"),
        )
        total = len(world.kind)
        world.user_keys = [f"sim-{seed}-{i}" for i in range(total)]
        world.ips = [_dotted(int(ip)) for ip in ips.tolist()]
        world.user_agents = human_agents + spam_agents + bot_agents
        world.interest_sets = _interest_sets(interests)
        return world

    def identities(self, kind: int) -> np.ndarray:
        return np.flatnonzero(self.kind == kind)


def _choice(rng: Generator, shares: np.ndarray, n: int) -> np.ndarray:
    cumulative = np.cumsum(shares / shares.sum())
    return np.minimum(np.searchsorted(cumulative, rng.random(n), side="right"), len(shares) - 1)


def _people(rng: Generator, n: int) -> dict[str, np.ndarray]:
    geo = np.sort(_choice(rng, np.array([g.share for g in GEOS]), n))
    language = np.zeros(n, dtype=np.int64)
    for g, spec in enumerate(GEOS):
        lo, hi = np.searchsorted(geo, [g, g + 1])
        names = [LANGUAGES.index(lang) for lang, _ in spec.languages]
        shares = np.array([share for _, share in spec.languages])
        language[lo:hi] = np.array(names)[_choice(rng, shares, int(hi - lo))]
    band = _choice(rng, np.array([share for *_, share in AGE_BANDS]), n)
    low = np.array([b[1] for b in AGE_BANDS])[band]
    high = np.array([b[2] for b in AGE_BANDS])[band]
    age = rng.integers(low, high + 1)
    age_known = rng.random(n) < audience.AGE_KNOWN_SHARE
    gender = _choice(rng, np.array([share for _, share in GENDERS]), n)
    device = _choice(rng, np.array([share for _, share in DEVICES]), n)
    os = np.zeros(n, dtype=np.int64)
    for d, (name, _) in enumerate(DEVICES):
        rows = np.flatnonzero(device == d)
        names = [audience.OPERATING_SYSTEMS.index(o) for o, _ in OS_BY_DEVICE[name]]
        shares = np.array([share for _, share in OS_BY_DEVICE[name]])
        os[rows] = np.array(names)[_choice(rng, shares, len(rows))]
    country = np.array([audience.COUNTRIES.index(g.country) for g in GEOS])[geo]
    rates = audience.interest_rates()[country, band, gender]
    interests = rng.random(rates.shape) < rates
    activity = rng.lognormal(0.0, ACTIVITY_SIGMA, n)
    return {
        "kind": np.full(n, KIND_HUMAN, dtype=np.int8), "geo": geo, "language": language, "age": age,
        "age_known": age_known, "band": band, "gender": gender, "device": device, "os": os,
        "interests": interests, "activity": activity,
    }  # fmt: skip


def _geo_index(country: str, region: str) -> int:
    return next(i for i, g in enumerate(GEOS) if g.country == country and g.region == region)


def _others(
    kind: int, geos: list[int], device: str, os_name: str, interests: frozenset[str]
) -> dict[str, Any]:
    n = len(geos)
    return {
        "kind": np.full(n, kind, dtype=np.int8),
        "geo": np.array(geos, dtype=np.int64),
        # What their Accept-Language claims: the first language of where they claim to be.
        "language": np.array([LANGUAGES.index(GEOS[g].languages[0][0]) for g in geos], dtype=np.int64),
        "age": np.zeros(n, dtype=np.int64),
        "age_known": np.zeros(n, dtype=bool),
        "band": np.zeros(n, dtype=np.int64),
        "gender": np.full(n, [g for g, _ in GENDERS].index("unknown"), dtype=np.int64),
        "device": np.full(n, [d for d, _ in DEVICES].index(device), dtype=np.int64),
        "os": np.full(n, audience.OPERATING_SYSTEMS.index(os_name), dtype=np.int64),
        "interests": np.tile(np.array([s in interests for s in INTEREST_SEGMENTS]), (n, 1)),
    }


def _spammers() -> dict[str, Any]:
    geos = [_geo_index(*_SPAM_GEOS[i % len(_SPAM_GEOS)]) for i in range(N_CLICK_SPAMMERS)]
    return _others(KIND_CLICK_SPAM, geos, "mobile", "android", _SPAM_INTERESTS)


def _bots(people: dict[str, np.ndarray], donors: np.ndarray) -> dict[str, Any]:
    """Bots in data centres. Each replays the cookies of a person (`donors`), so the platform sees that
    person's age, gender and interests: targeted ads reach bots too, as they do on the real web."""
    geos = [_geo_index(*_BOT_GEOS[i % len(_BOT_GEOS)]) for i in range(N_BOTS)]
    out = _others(KIND_BOT, geos, "desktop", "linux", frozenset())
    if len(donors):
        for name in ("age", "age_known", "band", "gender", "interests"):
            out[name] = people[name][donors]
    return out


def _profile(skew: audience.AudienceSkew, people: dict[str, np.ndarray], interests: np.ndarray) -> Profile:
    def lift(names: list[str], lifts: Any, index: np.ndarray) -> np.ndarray:
        return np.array([lifts.get(name, 1.0) for name in names])[index]

    country = np.array([g.country for g in GEOS])
    weight = people["activity"].copy()
    weight *= lift(list(country), skew.countries, people["geo"])
    weight *= lift(list(LANGUAGES), skew.languages, people["language"])
    weight *= lift([b[0] for b in AGE_BANDS], skew.age_bands, people["band"])
    weight *= lift([g for g, _ in GENDERS], skew.genders, people["gender"])
    weight *= lift([d for d, _ in DEVICES], skew.devices, people["device"])
    log_lift = np.log([skew.interests.get(s, 1.0) for s in INTEREST_SEGMENTS])
    weight *= np.exp(interests.astype(np.float64) @ log_lift)
    return Profile(
        skew=skew,
        cumulative=np.cumsum(weight),
        geo_weight=np.bincount(people["geo"], weights=weight, minlength=len(GEOS)),
    )


def _pages(domain: str, skew: audience.AudienceSkew) -> Pages:
    """One page per topic and set of 1 to 3 of its keywords, read as often as the audience structure
    says (a topic's share, a number of keywords equally likely, then any set of that size), so that the
    pages are exactly what `audience.keyword_share` assumes."""
    topics, urls, keywords, probability = [], [], [], []
    total = sum(share for _, share in skew.topics)
    sizes = audience.KEYWORDS_PER_PAGE
    for topic, share in skew.topics:
        vocabulary = audience.TOPIC_KEYWORDS[topic]
        for size in sizes:
            sets = list(combinations(vocabulary, size))
            for n, words in enumerate(sets, start=1):
                topics.append(INTEREST_SEGMENTS.index(topic))
                keywords.append(frozenset(words))
                urls.append(f"https://{domain}/{topic.replace('_', '-')}/{_slug('-'.join(words))}-{size}{n}")
                probability.append(share / total / len(sizes) / len(sets))
    return Pages(
        topic=np.array(topics, dtype=np.int64),
        url=urls,
        keywords=keywords,
        cumulative=np.cumsum(probability) / sum(probability),
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().encode("ascii", "ignore").decode()).strip("-") or "page"


def _dotted(ip: int) -> str:
    return f"{ip >> 24 & 255}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}"


def _interest_sets(interests: np.ndarray) -> list[frozenset[str]]:
    """One frozenset per identity, shared between identities with the same interests."""
    weights = 1 << np.arange(len(INTEREST_SEGMENTS), dtype=np.int64)
    masks = interests.astype(np.int64) @ weights
    cache: dict[int, frozenset[str]] = {}
    out = []
    for mask in masks.tolist():
        found = cache.get(mask)
        if found is None:
            found = cache[mask] = frozenset(s for i, s in enumerate(INTEREST_SEGMENTS) if mask >> i & 1)
        out.append(found)
    return out
