"""Inventory: publishers and placements, their sizes and floors."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.money import MAX_MICROS
from delivery.models import Placement, Publisher
from tests.factories import PlacementFactory, PublisherFactory

pytestmark = pytest.mark.django_db


def _errors(obj: Placement | Publisher) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        obj.full_clean()
    return exc.value.message_dict


def test_a_banner_placement_accepts_iab_sizes() -> None:
    PlacementFactory.build(publisher=PublisherFactory(), sizes=["300x250", "728x90"]).full_clean()


@pytest.mark.parametrize(
    ("fmt", "sizes", "message"),
    [
        ("banner", [], "A banner placement accepts at least one size."),
        ("banner", ["300x250", "301x250"], "Not IAB sizes: 301x250."),
        ("native", ["300x250"], "Only banner placements have sizes."),
        ("video", ["640x480"], "Only banner placements have sizes."),
    ],
)
def test_placement_sizes_follow_the_format(fmt: str, sizes: list[str], message: str) -> None:
    placement = PlacementFactory.build(publisher=PublisherFactory(), format=fmt, sizes=sizes)
    assert _errors(placement)["sizes"] == [message]


@pytest.mark.parametrize("fmt", ["native", "video"])
def test_native_and_video_placements_have_no_sizes(fmt: str) -> None:
    PlacementFactory.build(publisher=PublisherFactory(), format=fmt, sizes=[]).full_clean()


@pytest.mark.parametrize("floor", [0, -1, MAX_MICROS + 1])
def test_a_floor_out_of_range_is_refused(floor: int) -> None:
    placement = PlacementFactory.build(publisher=PublisherFactory(), floor_cpm_micros=floor)
    assert "floor_cpm_micros" in _errors(placement)


@pytest.mark.parametrize("floor", [0, -1, MAX_MICROS + 1])
def test_db_refuses_a_floor_out_of_range(floor: int) -> None:
    placement = PlacementFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Placement.objects.filter(pk=placement.pk).update(floor_cpm_micros=floor)


def test_placement_keys_are_unique_and_names_unique_per_publisher() -> None:
    placement = PlacementFactory(key="home-top", name="Home top")
    with transaction.atomic(), pytest.raises(IntegrityError):
        PlacementFactory(key="home-top")
    with transaction.atomic(), pytest.raises(IntegrityError):
        PlacementFactory(publisher=placement.publisher, name="Home top")
    PlacementFactory(name="Home top")  # another publisher: fine


def test_a_placement_key_is_a_slug() -> None:
    assert "key" in _errors(PlacementFactory.build(publisher=PublisherFactory(), key="home top!"))


def test_publisher_domain_is_a_bare_domain() -> None:
    assert "domain" in _errors(PublisherFactory.build(domain="https://news.example.com/"))
    PublisherFactory.build(domain="news.example.com").full_clean()


def test_active_placements_need_an_active_publisher() -> None:
    live = PlacementFactory()
    PlacementFactory(is_active=False)
    PlacementFactory(publisher=PublisherFactory(is_active=False))
    assert list(Placement.objects.active()) == [live]
    assert str(live) == f"{live.publisher.name} / {live.name}"
