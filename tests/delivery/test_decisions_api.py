"""POST /serve/v1/decisions: answers, explanations for the right people, and bad input."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.models import Role
from delivery.events import STREAM
from tests.conftest import client_for
from tests.delivery.serving import fresh_index, live_ad_group
from tests.factories import MembershipFactory, PlacementFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]
URL = "/serve/v1/decisions"


@pytest.fixture
def placement():
    return PlacementFactory(key="news-mpu", sizes=["300x250"], floor_cpm_micros=500_000)


def post(client: Client, body, **extra):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(URL, data, content_type="application/json", **extra)


def test_answers_the_chosen_ad_with_its_contents_and_signed_urls(placement):
    group = live_ad_group(targeting={"countries": ["US"]})
    fresh_index()
    response = post(
        Client(),
        {"placements": [{"key": "news-mpu"}], "user": {"key": "u-1"}, "context": {"country": "us"}},
    )
    assert response.status_code == 200, response.content
    [decision] = response.json()["decisions"]
    assert decision["placement"] == "news-mpu"
    assert decision["ad_group_id"] == group.pk
    assert decision["format"] == "banner"
    assert (decision["width"], decision["height"]) == (300, 250)
    assert decision["contents"]["image_url"].startswith("http://testserver/media/creatives/")
    assert decision["impression_url"].startswith("http://testserver/t/v1/i/")
    assert decision["click_url"].startswith("http://testserver/t/v1/c/")
    assert "explanation" not in response.json()


def test_no_matching_ad_is_an_empty_list(placement, redis_client):
    live_ad_group(targeting={"countries": ["DE"]})
    fresh_index()
    response = post(Client(), {"placements": [{"key": "news-mpu"}], "context": {"country": "US"}})
    assert response.status_code == 200
    assert response.json()["decisions"] == []
    assert redis_client.xlen(STREAM) == 0


def test_several_ads_for_one_placement(placement):
    groups = {live_ad_group().pk for _ in range(3)}
    fresh_index()
    response = post(Client(), {"placements": [{"key": "news-mpu", "count": 2}]})
    decided = [d["ad_group_id"] for d in response.json()["decisions"]]
    assert len(decided) == 2
    assert set(decided) <= groups


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", "body"),
        ("[]", "body"),
        ({}, "placements"),
        ({"placements": []}, "placements"),
        ({"placements": "news-mpu"}, "placements"),
        ({"placements": [{"key": "nope"}]}, "placements[0].key"),
        ({"placements": [{}]}, "placements[0].key"),
        ({"placements": [{"key": 5}]}, "placements[0].key"),
        ({"placements": [{"key": "news-mpu", "count": 0}]}, "placements[0].count"),
        ({"placements": [{"key": "news-mpu", "count": "2"}]}, "placements[0].count"),
        ({"placements": [{"key": "news-mpu", "count": 10_000}]}, "placements[0].count"),
        ({"placements": [{"key": "news-mpu", "size": "300x250"}]}, "placements[0].size"),
        ({"placements": [{"key": "news-mpu"}], "colour": "red"}, "colour"),
        ({"placements": [{"key": "news-mpu"}], "user": "u-1"}, "user"),
        ({"placements": [{"key": "news-mpu"}], "user": {"key": 7}}, "user.key"),
        ({"placements": [{"key": "news-mpu"}], "context": {"country": "XX"}}, "context.country"),
        ({"placements": [{"key": "news-mpu"}], "context": {"country": "US", "region": "DE-BY"}},
         "context.region"),
        ({"placements": [{"key": "news-mpu"}], "context": {"age": -3}}, "context.age"),
        ({"placements": [{"key": "news-mpu"}], "context": {"age": 1e9}}, "context.age"),
        ({"placements": [{"key": "news-mpu"}], "context": {"age": True}}, "context.age"),
        ({"placements": [{"key": "news-mpu"}], "context": {"device_type": "toaster"}}, "context.device_type"),
        ({"placements": [{"key": "news-mpu"}], "context": {"interests": ["knitting"]}},
         "context.interests[0]"),
        ({"placements": [{"key": "news-mpu"}], "context": {"keywords": "boots"}}, "context.keywords"),
        ({"placements": [{"key": "news-mpu"}], "context": {"keywords": [""]}}, "context.keywords[0]"),
        ({"placements": [{"key": "news-mpu"}], "context": {"shoe_size": 44}}, "context.shoe_size"),
        ({"placements": [{"key": "news-mpu"}], "explain": "yes"}, "explain"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field_and_records_nothing(placement, redis_client, body, field):
    live_ad_group()
    fresh_index()
    response = post(Client(), body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["field"] == field
    assert field in error["message"]
    assert redis_client.xlen(STREAM) == 0


def test_an_oversized_body_is_refused(placement):
    body = json.dumps({"placements": [{"key": "news-mpu"}], "context": {"url": "x" * 70_000}})
    response = post(Client(), body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "body"


def test_only_post(placement):
    response = Client().get(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_explanations_need_a_signed_in_viewer(placement):
    live_ad_group()
    fresh_index()
    response = post(Client(), {"placements": [{"key": "news-mpu"}], "explain": True})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "explain"


def test_staff_see_every_ad_group_and_why(placement):
    winner = live_ad_group(bid_micros=3_000_000)
    runner_up = live_ad_group(bid_micros=1_000_000)
    filtered = live_ad_group(targeting={"countries": ["DE"]})
    fresh_index()
    staff = client_for(UserFactory(is_staff=True))
    response = post(
        staff, {"placements": [{"key": "news-mpu"}], "explain": True, "context": {"country": "US"}}
    )
    [slot] = response.json()["explanation"]
    assert slot["winner"]["ad_group_id"] == winner.pk
    assert slot["price_cpm_micros"] == 1_000_000
    assert slot["runner_up_ecpm_cpm_micros"] == 1_000_000
    assert slot["reserve_cpm_micros"] == 500_000
    reasons = {f["ad_group_id"]: f["reason"] for f in slot["filtered"]}
    assert reasons == {filtered.pk: "location", runner_up.pk: "outbid"}


def test_an_advertiser_sees_only_its_own_ad_groups(placement):
    winner = live_ad_group(bid_micros=3_000_000)
    mine = live_ad_group(bid_micros=1_000_000)
    member = UserFactory()
    MembershipFactory(user=member, advertiser=mine.advertiser, role=Role.ANALYST)
    fresh_index()
    response = post(client_for(member), {"placements": [{"key": "news-mpu"}], "explain": True})
    [slot] = response.json()["explanation"]
    assert slot["winner"] is None  # someone else's ad won; who is not ours to see
    assert [c["ad_group_id"] for c in slot["candidates"]] == [mine.pk]
    assert [f["ad_group_id"] for f in slot["filtered"]] == [mine.pk]
    assert winner.pk not in {f["ad_group_id"] for f in slot["filtered"]}
