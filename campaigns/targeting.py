"""The targeting of an ad group: one schema, validated here for forms, the API, the admin and seeds.

Stored as JSON on AdGroup.targeting in the normalised form `Targeting.to_json()` writes. An empty
list means "no restriction" on that dimension. Errors name the field by its path, e.g.
`countries[2]` or `age_ranges[0]`, so that the form and the API can point at the exact item.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

import pycountry
from django.core.exceptions import ValidationError


class Gender:
    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"
    ALL = (FEMALE, MALE, UNKNOWN)


DEVICE_TYPES = ("desktop", "mobile", "tablet", "ctv")
OPERATING_SYSTEMS = ("android", "ios", "windows", "macos", "linux", "chromeos", "other")
# The interest taxonomy shared with the simulator: coarse, IAB-like segments.
INTEREST_SEGMENTS = (
    "automotive",
    "beauty",
    "books",
    "business",
    "cooking",
    "education",
    "entertainment",
    "family",
    "fashion",
    "finance",
    "fitness",
    "gaming",
    "health",
    "home_garden",
    "music",
    "news",
    "outdoors",
    "pets",
    "real_estate",
    "science",
    "shopping",
    "sports",
    "technology",
    "travel",
)
MIN_AGE, MAX_AGE = 13, 100
MAX_KEYWORDS = 1000
MAX_KEYWORD_LENGTH = 80
MAX_PLACEMENTS = 5000
DAYS, HOURS = 7, 24


@cache
def country_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


@cache
def language_codes() -> frozenset[str]:
    # Two-letter ISO 639-1 codes, as browsers and OpenRTB (device.language) send them.
    return frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))


@dataclass(slots=True)
class AgeRange:
    min: int
    max: int


@dataclass(slots=True)
class Targeting:
    countries: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)  # ISO 3166-2, e.g. "US-CA"
    languages: list[str] = field(default_factory=list)
    age_ranges: list[AgeRange] = field(default_factory=list)
    genders: list[str] = field(default_factory=list)
    device_types: list[str] = field(default_factory=list)
    operating_systems: list[str] = field(default_factory=list)
    placements_include: list[int] = field(default_factory=list)
    placements_exclude: list[int] = field(default_factory=list)
    interests: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    # 7 x 24 booleans, Monday first, in the advertiser's time zone; None means every hour.
    dayparting: list[list[bool]] | None = None

    @classmethod
    def from_json(cls, data: Any) -> Targeting:
        """Validate and normalise. Raises ValidationError with a dict keyed by field path."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValidationError({"targeting": ["Targeting must be an object."]})
        errors: dict[str, list[str]] = {}
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        for name in unknown:
            errors.setdefault(name, []).append("Unknown targeting field.")

        def codes(
            name: str, allowed: frozenset[str] | tuple[str, ...], transform: Any, what: str
        ) -> list[str]:
            values = _list(data, name, errors)
            out: list[str] = []
            for i, raw in enumerate(values):
                value = transform(raw) if isinstance(raw, str) else raw
                if not isinstance(value, str) or value not in allowed:
                    errors.setdefault(f"{name}[{i}]", []).append(f"{raw!r} is not {what}.")
                elif value not in out:
                    out.append(value)
            return out

        def lower(text: str) -> str:
            return text.strip().lower()

        targeting = cls(
            countries=codes(
                "countries", country_codes(), lambda s: s.strip().upper(), "an ISO 3166-1 country code"
            ),
            languages=codes(
                "languages", language_codes(), lambda s: s.strip().lower(), "an ISO 639-1 language code"
            ),
            genders=codes("genders", Gender.ALL, lower, "one of " + ", ".join(Gender.ALL)),
            device_types=codes("device_types", DEVICE_TYPES, lower, "one of " + ", ".join(DEVICE_TYPES)),
            operating_systems=codes(
                "operating_systems", OPERATING_SYSTEMS, lower, "one of " + ", ".join(OPERATING_SYSTEMS)
            ),
            interests=codes("interests", INTEREST_SEGMENTS, lower, "a known interest segment"),
        )
        targeting.regions = _regions(data, errors)
        targeting.age_ranges = _age_ranges(data, errors)
        targeting.placements_include = _ids(data, "placements_include", errors)
        targeting.placements_exclude = _ids(data, "placements_exclude", errors)
        both = set(targeting.placements_include) & set(targeting.placements_exclude)
        if both:
            errors.setdefault("placements_exclude", []).append(
                f"Placements {sorted(both)} are both included and excluded."
            )
        targeting.keywords = _keywords(data, errors)
        targeting.dayparting = _dayparting(data.get("dayparting"), errors)
        if errors:
            raise ValidationError(errors)
        return targeting

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def is_everyone(self) -> bool:
        return self == Targeting()


def validate_targeting(value: Any) -> None:
    """Targeting as one flat list of "path: message" lines, for callers that have no field map."""
    try:
        Targeting.from_json(value)
    except ValidationError as exc:
        messages = [f"{path}: {msg}" for path, msgs in exc.message_dict.items() for msg in msgs]
        raise ValidationError(messages) from None


def _list(data: dict[str, Any], name: str, errors: dict[str, list[str]]) -> list[Any]:
    value = data.get(name, [])
    if value is None:
        return []
    if not isinstance(value, list):
        errors.setdefault(name, []).append("Must be a list.")
        return []
    return value


def _regions(data: dict[str, Any], errors: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for i, raw in enumerate(_list(data, "regions", errors)):
        code = raw.strip().upper() if isinstance(raw, str) else None
        if code is None or pycountry.subdivisions.get(code=code) is None:
            errors.setdefault(f"regions[{i}]", []).append(
                f"{raw!r} is not an ISO 3166-2 region code such as US-CA."
            )
        elif code not in out:
            out.append(code)
    return out


def _age_ranges(data: dict[str, Any], errors: dict[str, list[str]]) -> list[AgeRange]:
    out: list[AgeRange] = []
    for i, raw in enumerate(_list(data, "age_ranges", errors)):
        path = f"age_ranges[{i}]"
        if isinstance(raw, AgeRange):
            raw = {"min": raw.min, "max": raw.max}
        if not isinstance(raw, dict) or set(raw) != {"min", "max"}:
            errors.setdefault(path, []).append('An age range is {"min": 18, "max": 24}.')
            continue
        low, high = raw["min"], raw["max"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
            errors.setdefault(path, []).append("Ages are whole numbers.")
        elif not (MIN_AGE <= low <= MAX_AGE and MIN_AGE <= high <= MAX_AGE):
            errors.setdefault(path, []).append(f"Ages are between {MIN_AGE} and {MAX_AGE}.")
        elif low > high:
            errors.setdefault(path, []).append(f"The minimum age ({low}) is above the maximum ({high}).")
        else:
            out.append(AgeRange(low, high))
    return out


def _ids(data: dict[str, Any], name: str, errors: dict[str, list[str]]) -> list[int]:
    values = _list(data, name, errors)
    if len(values) > MAX_PLACEMENTS:
        errors.setdefault(name, []).append(f"At most {MAX_PLACEMENTS} placements.")
        return []
    out: list[int] = []
    for i, raw in enumerate(values):
        if not isinstance(raw, int) or isinstance(raw, bool) or raw <= 0:
            errors.setdefault(f"{name}[{i}]", []).append(f"{raw!r} is not a placement id.")
        elif raw not in out:
            out.append(raw)
    return out


def _keywords(data: dict[str, Any], errors: dict[str, list[str]]) -> list[str]:
    values = _list(data, "keywords", errors)
    if len(values) > MAX_KEYWORDS:
        errors.setdefault("keywords", []).append(f"At most {MAX_KEYWORDS} keywords.")
        return []
    out: list[str] = []
    for i, raw in enumerate(values):
        keyword = " ".join(raw.split()).lower() if isinstance(raw, str) else None
        if not keyword or len(keyword) > MAX_KEYWORD_LENGTH:
            errors.setdefault(f"keywords[{i}]", []).append(
                f"A keyword is 1 to {MAX_KEYWORD_LENGTH} characters of text."
            )
        elif keyword not in out:
            out.append(keyword)
    return out


def _dayparting(value: Any, errors: dict[str, list[str]]) -> list[list[bool]] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != DAYS
        or not all(isinstance(day, list) and len(day) == HOURS for day in value)
        or not all(isinstance(hour, bool) for day in value for hour in day)
    ):
        errors.setdefault("dayparting", []).append(
            "Dayparting is 7 days (Monday first) of 24 true/false hours."
        )
        return None
    if not any(hour for day in value for hour in day):
        errors.setdefault("dayparting", []).append("Dayparting must leave at least one hour open.")
        return None
    if all(hour for day in value for hour in day):
        return None  # every hour open is the same as no dayparting
    return [list(day) for day in value]
