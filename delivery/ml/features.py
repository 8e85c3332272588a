"""The models' features: one definition, for the training rows built from logged events and for the
candidates scored at serving time, so that the two cannot drift apart.

Both paths describe their rows as `Inputs` (plain arrays: what the request said, which ad, when) and
call `encode` with the model's `Tables`; nothing else turns inputs into features. At serving time the
request's own fields are length-1 arrays, broadcast over the candidates.

The features (`FEATURES`, in this order; `SPEC` is their fingerprint, and a model trained on another
specification is refused when loaded):

- the person: country, language, age (missing when not said), gender, device type, operating
  system, how many interest segments they follow;
- the match of the ad with the person and the page: whether the person follows a segment the
  creative is about (its IAB categories), and whether the page is about one (the page's topics, from
  its keywords: `campaigns.audience.TOPIC_KEYWORDS`);
- where: placement, publisher; the ad: format, size, advertiser, campaign, ad group, creative;
- when: hour of the day and day of the week where the person is (the time zone of their country and
  region);
- recent frequency: the person's impressions of the campaign earlier the same day;
- history: the creative's and the ad group's click rate and post-click conversion rate, smoothed
  toward the overall rate (k + a p) / (n + a), in log-odds, and the creative's impressions (log).

Identifier features (placement, publisher, size, advertiser, campaign, ad group, creative, country,
language) are categorical over a vocabulary learned at training: the values seen at least
`MIN_CATEGORY_COUNT` times, at most `MAX_CATEGORIES` of them; every other value, and any value new at
serving time (a creative made after the model), is the one "other" category. A new creative still
gets the history of its ad group, or the overall rate: never zero.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from campaigns.audience import GEOS, TOPIC_KEYWORDS
from campaigns.targeting import DEVICE_TYPES, INTEREST_SEGMENTS, OPERATING_SYSTEMS
from delivery import taxonomy

SPEC_VERSION = 1
MAX_CATEGORIES = 1_000
MIN_CATEGORY_COUNT = 20
CTR_PRIOR_WEIGHT = 400.0  # pseudo-impressions of the overall click rate in a smoothed click rate
CVR_PRIOR_WEIGHT = 40.0  # pseudo-clicks of the overall conversion rate in a smoothed conversion rate
GENDERS = ("female", "male")

# (name, categorical); the vocabulary-coded ones are those in VOCABULARY_FEATURES
FEATURES: tuple[tuple[str, bool], ...] = (
    ("country", True),
    ("language", True),
    ("age", False),
    ("gender", True),
    ("device_type", True),
    ("os", True),
    ("interest_count", False),
    ("interest_match", False),
    ("topic_match", False),
    ("placement", True),
    ("publisher", True),
    ("format", True),
    ("size", True),
    ("advertiser", True),
    ("campaign", True),
    ("ad_group", True),
    ("creative", True),
    ("local_hour", False),
    ("weekday", False),
    ("exposures", False),
    ("creative_ctr", False),
    ("ad_group_ctr", False),
    ("creative_cvr", False),
    ("ad_group_cvr", False),
    ("creative_impressions", False),
)
NAMES = tuple(name for name, _ in FEATURES)
CATEGORICAL = tuple(name for name, categorical in FEATURES if categorical)
COLUMN = {name: i for i, name in enumerate(NAMES)}
VOCABULARY_FEATURES = (
    "country", "language", "placement", "publisher", "size", "advertiser", "campaign", "ad_group", "creative",
)  # fmt: skip


def spec() -> dict[str, Any]:
    return {"version": SPEC_VERSION, "names": list(NAMES), "categorical": list(CATEGORICAL)}


def fingerprint(specification: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(specification, sort_keys=True).encode()).hexdigest()


SPEC = fingerprint(spec())


# Inputs ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Inputs:
    """The rows to encode, as arrays of one length n, or of length 1 for a value shared by all rows.

    Text values are numpy object arrays; ids are int64 with -1 for "none"; bit sets are int64 masks
    over INTEREST_SEGMENTS."""

    country: np.ndarray
    language: np.ndarray
    age: np.ndarray  # float64, NaN when not known
    gender: np.ndarray
    device_type: np.ndarray
    os: np.ndarray
    interests: np.ndarray  # the person's segments
    topics: np.ndarray  # the page's segments
    placement: np.ndarray
    publisher: np.ndarray
    local_hour: np.ndarray
    weekday: np.ndarray
    format: np.ndarray  # index into delivery.index.FORMATS
    size: np.ndarray  # delivery.index.size_code
    segments: np.ndarray  # the creative's segments
    advertiser: np.ndarray
    campaign: np.ndarray
    ad_group: np.ndarray
    creative: np.ndarray
    exposures: np.ndarray
    day: np.ndarray  # UTC days since 1970 of the request: the history counts the days before it

    def __len__(self) -> int:
        return max(len(getattr(self, name)) for name in self.__slots__)


_SEGMENT_BIT = {segment: 1 << i for i, segment in enumerate(INTEREST_SEGMENTS)}
_KEYWORD_SEGMENTS: dict[str, int] = {}
for _segment, _words in TOPIC_KEYWORDS.items():
    for _word in _words:
        _KEYWORD_SEGMENTS[_word] = _KEYWORD_SEGMENTS.get(_word, 0) | _SEGMENT_BIT[_segment]


def segment_mask(segments: Iterable[str]) -> int:
    mask = 0
    for segment in segments:
        mask |= _SEGMENT_BIT.get(segment, 0)
    return mask


def topic_mask(keywords: Iterable[str]) -> int:
    """The segments a page is about, from its keywords."""
    mask = 0
    for word in keywords:
        mask |= _KEYWORD_SEGMENTS.get(word, 0)
    return mask


def creative_mask(categories: Iterable[str]) -> int:
    """The segments a creative is about, from its IAB categories."""
    return segment_mask(taxonomy.segments_of(categories))


@lru_cache(maxsize=4096)
def joined_segment_mask(joined: str) -> int:
    """segment_mask of a logged "a,b,c" list (the decision event's interests)."""
    return segment_mask(joined.split(",")) if joined else 0


@lru_cache(maxsize=65536)
def joined_topic_mask(joined: str) -> int:
    """topic_mask of a logged "a,b,c" list (the decision event's keywords)."""
    return topic_mask(joined.split(",")) if joined else 0


# Local time of the person --------------------------------------------------------------------------

_ZONE_OF_GEO = {(geo.country, geo.region): geo.time_zone for geo in GEOS}
for _geo in GEOS:
    _ZONE_OF_GEO.setdefault((_geo.country, ""), _geo.time_zone)
ZONES = ("UTC", *sorted(set(_ZONE_OF_GEO.values())))
_ZONE_INDEX = {name: i for i, name in enumerate(ZONES)}


def zone_index(country: str, region: str) -> int:
    """The person's time zone (an index into ZONES): their region's, else their country's, else UTC."""
    zone = _ZONE_OF_GEO.get((country, region)) or _ZONE_OF_GEO.get((country, "")) or "UTC"
    return _ZONE_INDEX[zone]


@lru_cache(maxsize=200_000)
def _offset_seconds(zone: int, epoch_hour: int) -> int:
    at = datetime.fromtimestamp(epoch_hour * 3600, UTC).astimezone(ZoneInfo(ZONES[zone]))
    offset = at.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def local_time(zones: np.ndarray, epoch_seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hour of the day (0-23) and day of the week (Monday 0) in each row's time zone."""
    seconds = np.asarray(epoch_seconds, dtype=np.int64)
    zones = np.asarray(zones, dtype=np.int64)
    hours = seconds // 3600
    pairs, inverse = np.unique(np.stack([zones, hours]), axis=1, return_inverse=True)
    offsets = np.array([_offset_seconds(int(z), int(h)) for z, h in pairs.T], dtype=np.int64)
    local = seconds + offsets[inverse.reshape(-1)]
    return (local // 3600) % 24, (local // 86_400 + 3) % 7  # 1970-01-01 was a Thursday


def local_time_one(zone: int, epoch_seconds: int) -> tuple[int, int]:
    """local_time of one row (the serving path's request)."""
    local = epoch_seconds + _offset_seconds(zone, epoch_seconds // 3600)
    return (local // 3600) % 24, (local // 86_400 + 3) % 7


# The model's tables ---------------------------------------------------------------------------------


_DAY_BITS = 20  # days since 1970 fit in 20 bits until the year 4840


@dataclass(slots=True)
class History:
    """Counts per id and UTC day: trials (impressions or clicks) and successes (clicks or
    conversions), cumulated through each day, so that a row sees only the days before its own."""

    ids: np.ndarray  # sorted by (id, day)
    days: np.ndarray
    trials: np.ndarray  # cumulative, within the id, through the day
    successes: np.ndarray

    @classmethod
    def count(cls, ids: np.ndarray, days: np.ndarray, trials: np.ndarray, successes: np.ndarray) -> History:
        if len(ids) == 0:
            return cls.empty()
        keys = (np.asarray(ids, dtype=np.int64) << _DAY_BITS) | np.asarray(days, dtype=np.int64)
        unique, inverse = np.unique(keys, return_inverse=True)
        inverse = inverse.reshape(-1)
        n = np.bincount(inverse, weights=trials, minlength=len(unique)).astype(np.int64)
        k = np.bincount(inverse, weights=successes, minlength=len(unique)).astype(np.int64)
        unique_ids = unique >> _DAY_BITS
        starts = np.r_[True, unique_ids[1:] != unique_ids[:-1]]
        group = np.cumsum(starts) - 1
        cum_n, cum_k = np.cumsum(n), np.cumsum(k)
        before_n = (cum_n - n)[starts][group]
        before_k = (cum_k - k)[starts][group]
        return cls(unique_ids, unique & ((1 << _DAY_BITS) - 1), cum_n - before_n, cum_k - before_k)

    def totals(self) -> History:
        """One entry per id with all its counts (what serving needs), at day 0."""
        if len(self.ids) == 0:
            return History.empty()
        last = np.r_[self.ids[1:] != self.ids[:-1], True]
        return History(
            self.ids[last], np.zeros(int(last.sum()), np.int64), self.trials[last], self.successes[last]
        )

    def lookup(self, keys: np.ndarray, before_day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Counts of each key over the days before `before_day` (0, 0 for an id never seen)."""
        keys = np.asarray(keys, dtype=np.int64)
        if len(self.ids) == 0:
            zero = np.zeros(len(keys), dtype=np.float64)
            return zero, zero.copy()
        table = (self.ids << _DAY_BITS) | self.days
        wanted = (keys << _DAY_BITS) | np.clip(
            np.asarray(before_day, dtype=np.int64), 0, (1 << _DAY_BITS) - 1
        )
        position = np.searchsorted(table, wanted, side="left") - 1
        safe = np.clip(position, 0, len(table) - 1)
        found = (position >= 0) & (self.ids[safe] == keys)
        return (
            np.where(found, self.trials[safe], 0).astype(np.float64),
            np.where(found, self.successes[safe], 0).astype(np.float64),
        )

    def as_json(self) -> dict[str, list[int]]:
        return {
            "ids": self.ids.tolist(),
            "days": self.days.tolist(),
            "trials": self.trials.tolist(),
            "successes": self.successes.tolist(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Sequence[int]]) -> History:
        return cls(
            *(np.asarray(data[name], dtype=np.int64) for name in ("ids", "days", "trials", "successes"))
        )

    @classmethod
    def empty(cls) -> History:
        return cls(*(np.zeros(0, np.int64) for _ in range(4)))


@dataclass(slots=True)
class Tables:
    """What encoding needs beside the inputs, learned at training and shipped with the model."""

    vocabularies: dict[str, dict[Any, int]] = field(default_factory=dict)
    ctr: float = 0.005  # overall click rate
    cvr: float = 0.03  # overall conversion rate of clicks
    creative_clicks: History = field(default_factory=History.empty)  # impressions -> clicks
    ad_group_clicks: History = field(default_factory=History.empty)
    creative_conversions: History = field(default_factory=History.empty)  # clicks -> conversions
    ad_group_conversions: History = field(default_factory=History.empty)

    def as_json(self) -> dict[str, Any]:
        return {
            "vocabularies": {name: list(vocabulary) for name, vocabulary in self.vocabularies.items()},
            "ctr": self.ctr,
            "cvr": self.cvr,
            "creative_clicks": self.creative_clicks.as_json(),
            "ad_group_clicks": self.ad_group_clicks.as_json(),
            "creative_conversions": self.creative_conversions.as_json(),
            "ad_group_conversions": self.ad_group_conversions.as_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tables:
        return cls(
            vocabularies={
                name: {value: code for code, value in enumerate(values)}
                for name, values in data["vocabularies"].items()
            },
            ctr=float(data["ctr"]),
            cvr=float(data["cvr"]),
            creative_clicks=History.from_json(data["creative_clicks"]),
            ad_group_clicks=History.from_json(data["ad_group_clicks"]),
            creative_conversions=History.from_json(data["creative_conversions"]),
            ad_group_conversions=History.from_json(data["ad_group_conversions"]),
        )


def learn_vocabulary(values: np.ndarray) -> dict[Any, int]:
    """The values seen at least MIN_CATEGORY_COUNT times (the most frequent MAX_CATEGORIES), coded
    from 0 in order of frequency; the code after them is "other"."""
    kept, counts = np.unique(values, return_counts=True)
    frequent = [
        (int(-c), v) for v, c in zip(kept.tolist(), counts.tolist(), strict=True) if c >= MIN_CATEGORY_COUNT
    ]
    frequent.sort(key=lambda pair: (pair[0], str(pair[1])))
    return {value: code for code, (_, value) in enumerate(frequent[:MAX_CATEGORIES])}


# Encoding -------------------------------------------------------------------------------------------


def _codes(values: np.ndarray, vocabulary: Mapping[Any, int], missing: Any = None) -> np.ndarray:
    other = len(vocabulary)
    out = np.array([vocabulary.get(v, other) for v in values.tolist()], dtype=np.float64)
    if missing is not None:
        out[values == missing] = np.nan
    return out


def _fixed(values: np.ndarray, code: Mapping[str, float]) -> np.ndarray:
    return np.array([code.get(v, np.nan) for v in values.tolist()], dtype=np.float64)


_GENDER_CODE = {name: float(i) for i, name in enumerate(GENDERS)}
_DEVICE_CODE = {name: float(i) for i, name in enumerate(DEVICE_TYPES)}
_OS_CODE = {name: float(i) for i, name in enumerate(OPERATING_SYSTEMS)}


def smoothed_logit(trials: np.ndarray, successes: np.ndarray, prior: float, weight: float) -> np.ndarray:
    p = (successes + weight * prior) / (trials + weight)
    return np.log(p) - np.log1p(-p)


def _popcount(mask: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(mask.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1)
    return bits.sum(axis=1).astype(np.float64)


REQUEST_GROUP, AD_GROUP, PAIR_GROUP = "request", "ad", "pair"
ALL_GROUPS = (REQUEST_GROUP, AD_GROUP, PAIR_GROUP)


def encode(
    rows: Inputs, tables: Tables, *, groups: Sequence[str] = ALL_GROUPS, out: np.ndarray | None = None
) -> np.ndarray:
    """The feature matrix (n, len(FEATURES)), float64, C order; NaN where a value is missing.

    The features come in three groups: the request's (the person, the place, the time), the ad's
    (which ad, and its history) and the pair's (matches, recent frequency). Serving encodes each ad's
    group once per index snapshot and only the request's and the pair's per request (`groups`,
    filling `out`); training encodes all three at once. Either way, the same lines below."""
    n = len(rows)
    X = np.empty((n, len(NAMES)), dtype=np.float64) if out is None else out
    vocab = tables.vocabularies

    def put(name: str, column: np.ndarray) -> None:
        X[:, COLUMN[name]] = column

    if REQUEST_GROUP in groups:
        for name in ("country", "language"):
            put(name, _codes(getattr(rows, name), vocab.get(name, {}), missing=""))
        for name in ("placement", "publisher"):
            put(name, _codes(getattr(rows, name), vocab.get(name, {}), missing=-1))
        put("age", rows.age)
        put("gender", _fixed(rows.gender, _GENDER_CODE))
        put("device_type", _fixed(rows.device_type, _DEVICE_CODE))
        put("os", _fixed(rows.os, _OS_CODE))
        put("interest_count", _popcount(rows.interests))
        put("local_hour", rows.local_hour.astype(np.float64))
        put("weekday", rows.weekday.astype(np.float64))

    if AD_GROUP in groups:
        for name in ("advertiser", "campaign", "ad_group", "creative"):
            put(name, _codes(getattr(rows, name), vocab.get(name, {}), missing=-1))
        put("size", _codes(rows.size, vocab.get("size", {})))
        put("format", np.where(rows.format >= 0, rows.format, np.nan).astype(np.float64))
        creative_n, creative_k = tables.creative_clicks.lookup(rows.creative, rows.day)
        group_n, group_k = tables.ad_group_clicks.lookup(rows.ad_group, rows.day)
        put("creative_ctr", smoothed_logit(creative_n, creative_k, tables.ctr, CTR_PRIOR_WEIGHT))
        put("ad_group_ctr", smoothed_logit(group_n, group_k, tables.ctr, CTR_PRIOR_WEIGHT))
        put("creative_impressions", np.log1p(creative_n))
        creative_n, creative_k = tables.creative_conversions.lookup(rows.creative, rows.day)
        group_n, group_k = tables.ad_group_conversions.lookup(rows.ad_group, rows.day)
        put("creative_cvr", smoothed_logit(creative_n, creative_k, tables.cvr, CVR_PRIOR_WEIGHT))
        put("ad_group_cvr", smoothed_logit(group_n, group_k, tables.cvr, CVR_PRIOR_WEIGHT))

    if PAIR_GROUP in groups:
        put("interest_match", ((rows.interests & rows.segments) != 0).astype(np.float64))
        put("topic_match", ((rows.topics & rows.segments) != 0).astype(np.float64))
        put("exposures", rows.exposures.astype(np.float64))
    return X
