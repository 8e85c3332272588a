"""Targeting: one schema, normalised, with errors keyed by the path of the bad item."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from campaigns.models import AdGroup
from campaigns.targeting import (
    DEVICE_TYPES,
    INTEREST_SEGMENTS,
    MAX_KEYWORDS,
    OPERATING_SYSTEMS,
    AgeRange,
    Gender,
    Targeting,
    validate_targeting,
)
from tests.factories import AdGroupFactory, CampaignFactory


def _errors(data: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        Targeting.from_json(data)
    return exc.value.message_dict


def _grid(value: bool) -> list[list[bool]]:
    return [[value] * 24 for _ in range(7)]


def test_empty_targeting_is_everyone() -> None:
    nothing: list[dict[str, Any] | None] = [None, {}]
    for data in nothing:
        targeting = Targeting.from_json(data)
        assert targeting.is_everyone()
        assert targeting.to_json()["countries"] == []


def test_codes_are_normalised_and_deduplicated() -> None:
    targeting = Targeting.from_json(
        {
            "countries": [" us", "CA", "US"],
            "regions": ["us-ca", "US-CA"],
            "languages": ["EN", "fr "],
            "genders": ["Female"],
            "device_types": ["Mobile", "mobile"],
            "operating_systems": ["iOS"],
            "interests": ["Travel"],
            "keywords": ["  Hiking   Boots ", "hiking boots", "Trail"],
            "placements_include": [3, 3, 7],
            "age_ranges": [{"min": 18, "max": 24}],
        }
    )
    assert targeting.countries == ["US", "CA"]
    assert targeting.regions == ["US-CA"]
    assert targeting.languages == ["en", "fr"]
    assert targeting.genders == ["female"]
    assert targeting.device_types == ["mobile"]
    assert targeting.operating_systems == ["ios"]
    assert targeting.interests == ["travel"]
    assert targeting.keywords == ["hiking boots", "trail"]
    assert targeting.placements_include == [3, 7]
    assert targeting.age_ranges == [AgeRange(18, 24)]
    assert not targeting.is_everyone()


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"countries": ["US", "XX"]}, "countries[1]"),
        ({"countries": ["FR", "DE", "France"]}, "countries[2]"),
        ({"countries": [1]}, "countries[0]"),
        ({"languages": ["en", "english"]}, "languages[1]"),
        ({"languages": ["zz"]}, "languages[0]"),
        ({"regions": ["US-XX"]}, "regions[0]"),
        ({"genders": ["other"]}, "genders[0]"),
        ({"device_types": ["phone"]}, "device_types[0]"),
        ({"operating_systems": ["ios", "symbian"]}, "operating_systems[1]"),
        ({"interests": ["knitting"]}, "interests[0]"),
        ({"age_ranges": [{"min": 18, "max": 24}, {"min": 40, "max": 30}]}, "age_ranges[1]"),
        ({"age_ranges": [{"min": 10, "max": 30}]}, "age_ranges[0]"),
        ({"age_ranges": [{"min": 18, "max": 101}]}, "age_ranges[0]"),
        ({"age_ranges": [{"min": "18", "max": 30}]}, "age_ranges[0]"),
        ({"age_ranges": [{"min": True, "max": 30}]}, "age_ranges[0]"),
        ({"age_ranges": [[18, 30]]}, "age_ranges[0]"),
        ({"age_ranges": [{"min": 18}]}, "age_ranges[0]"),
        ({"placements_include": [0]}, "placements_include[0]"),
        ({"placements_exclude": [5, -1]}, "placements_exclude[1]"),
        ({"placements_include": ["12"]}, "placements_include[0]"),
        ({"placements_include": [4], "placements_exclude": [4]}, "placements_exclude"),
        ({"keywords": ["ok", ""]}, "keywords[1]"),
        ({"keywords": ["x" * 81]}, "keywords[0]"),
        ({"keywords": [42]}, "keywords[0]"),
        ({"keywords": ["k"] * (MAX_KEYWORDS + 1)}, "keywords"),
        ({"countries": "US"}, "countries"),
        ({"dayparting": [[True] * 24] * 6}, "dayparting"),
        ({"dayparting": [[1] * 24] * 7}, "dayparting"),
        ({"dayparting": _grid(False)}, "dayparting"),
        ({"audiences": ["x"]}, "audiences"),
    ],
)
def test_errors_name_the_exact_item(data: dict[str, Any], path: str) -> None:
    assert path in _errors(data)


def test_age_range_min_above_max_says_so() -> None:
    assert _errors({"age_ranges": [{"min": 40, "max": 30}]})["age_ranges[0]"] == [
        "The minimum age (40) is above the maximum (30)."
    ]


@pytest.mark.parametrize("field", ["genders", "device_types", "operating_systems", "interests"])
def test_surrounding_spaces_are_ignored_in_every_code_list(field: str) -> None:
    value = {
        "genders": "female",
        "device_types": "mobile",
        "operating_systems": "ios",
        "interests": "travel",
    }[field]
    assert getattr(Targeting.from_json({field: [f" {value} "]}), field) == [value]


def test_several_errors_are_reported_together() -> None:
    errors = _errors({"countries": ["US", "XX"], "languages": ["english"], "genders": ["robot"]})
    assert set(errors) == {"countries[1]", "languages[0]", "genders[0]"}


def test_targeting_must_be_an_object() -> None:
    assert "targeting" in _errors(["US"])


def test_every_hour_open_is_no_dayparting() -> None:
    assert Targeting.from_json({"dayparting": _grid(True)}).dayparting is None
    grid = _grid(False)
    grid[2][20] = True
    assert Targeting.from_json({"dayparting": grid}).dayparting == grid


def test_validate_targeting_flattens_the_paths_into_messages() -> None:
    with pytest.raises(ValidationError) as exc:
        validate_targeting({"countries": ["US", "XX"]})
    assert exc.value.messages == ["countries[1]: 'XX' is not an ISO 3166-1 country code."]


# On the ad group ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ad_group_full_clean_keys_the_error_as_targeting_with_the_path() -> None:
    ad_group = AdGroupFactory.build(campaign=CampaignFactory(), targeting={"countries": ["US", "XX"]})
    with pytest.raises(ValidationError) as exc:
        ad_group.full_clean()
    errors = exc.value.message_dict
    assert list(errors) == ["targeting"]
    assert any(message.startswith("countries[1]: ") for message in errors["targeting"])


@pytest.mark.django_db
def test_ad_group_full_clean_reports_bad_language_and_ages() -> None:
    targeting = {"languages": ["en", "xx"], "age_ranges": [{"min": 50, "max": 20}]}
    with pytest.raises(ValidationError) as exc:
        AdGroupFactory.build(campaign=CampaignFactory(), targeting=targeting).full_clean()
    messages = exc.value.message_dict["targeting"]
    assert any(m.startswith("languages[1]: ") for m in messages)
    assert any(m.startswith("age_ranges[0]: ") for m in messages)


@pytest.mark.django_db
def test_ad_group_reports_each_targeting_error_once() -> None:
    ad_group = AdGroupFactory.build(campaign=CampaignFactory(), targeting={"countries": ["US", "XX"]})
    with pytest.raises(ValidationError) as exc:
        ad_group.full_clean()
    assert exc.value.message_dict["targeting"] == ["countries[1]: 'XX' is not an ISO 3166-1 country code."]


@pytest.mark.django_db
def test_ad_group_full_clean_stores_the_normalised_form() -> None:
    ad_group = AdGroupFactory.build(
        campaign=CampaignFactory(), targeting={"countries": ["us"], "keywords": [" A  B "]}
    )
    ad_group.full_clean()
    assert ad_group.targeting == Targeting(countries=["US"], keywords=["a b"]).to_json()
    assert ad_group.parsed_targeting.countries == ["US"]


@pytest.mark.django_db
def test_runs_at_local_reads_the_grid() -> None:
    from datetime import datetime

    grid = _grid(False)
    grid[4][18] = True  # Friday 18:00-19:00
    ad_group = AdGroup(targeting={"dayparting": grid})
    assert ad_group.runs_at_local(datetime(2024, 6, 7, 18, 59))  # noqa: DTZ001 - a local wall-clock time
    assert not ad_group.runs_at_local(datetime(2024, 6, 7, 19, 0))  # noqa: DTZ001
    assert AdGroup(targeting={}).runs_at_local(datetime(2024, 6, 7, 3, 0))  # noqa: DTZ001


# Properties ---------------------------------------------------------------------------------------


def _mixed_case(values: tuple[str, ...] | list[str]) -> st.SearchStrategy[str]:
    """One of the codes as a person might type it: any case, with stray spaces."""
    return st.sampled_from(sorted(values)).flatmap(
        lambda v: st.sampled_from([v, v.upper(), v.lower(), v.title(), f" {v} "])
    )


age_ranges = st.tuples(st.integers(13, 100), st.integers(13, 100)).map(
    lambda pair: {"min": min(pair), "max": max(pair)}
)
valid_targeting = st.fixed_dictionaries(
    {},
    optional={
        "countries": st.lists(_mixed_case(["US", "CA", "GB", "FR", "DE", "JP", "BR", "IN"]), max_size=6),
        "languages": st.lists(_mixed_case(["en", "fr", "de", "ja", "pt", "hi"]), max_size=4),
        "genders": st.lists(_mixed_case(Gender.ALL), max_size=3),
        "device_types": st.lists(_mixed_case(DEVICE_TYPES), max_size=4),
        "operating_systems": st.lists(_mixed_case(OPERATING_SYSTEMS), max_size=4),
        "interests": st.lists(_mixed_case(INTEREST_SEGMENTS), max_size=5),
        "age_ranges": st.lists(age_ranges, max_size=3),
        "keywords": st.lists(
            st.text(alphabet="abc xyz", min_size=1, max_size=20).filter(str.strip), max_size=5
        ),
        "placements_include": st.lists(st.integers(1, 10**9), max_size=5),
        "dayparting": st.lists(
            st.lists(st.booleans(), min_size=24, max_size=24), min_size=7, max_size=7
        ).filter(lambda grid: any(any(day) for day in grid)),
    },
)


@given(valid_targeting)
def test_normalising_is_idempotent_and_its_output_is_valid(data: dict[str, Any]) -> None:
    once = Targeting.from_json(data)
    stored = once.to_json()
    validate_targeting(stored)
    assert Targeting.from_json(stored) == once
    assert Targeting.from_json(stored).to_json() == stored


@given(
    st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2), min_size=1, max_size=5)
)
def test_country_codes_are_accepted_exactly_when_iso(codes: list[str]) -> None:
    from campaigns.targeting import country_codes

    unknown = [i for i, code in enumerate(codes) if code not in country_codes()]
    if unknown:
        assert {f"countries[{i}]" for i in unknown} == set(_errors({"countries": codes}))
    else:
        assert Targeting.from_json({"countries": codes}).countries == list(dict.fromkeys(codes))
