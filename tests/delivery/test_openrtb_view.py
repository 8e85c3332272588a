"""POST /openrtb/2.6/bid end to end: real ad groups, the real index and engine, Redis for the events."""

from __future__ import annotations

import copy
import gzip
from typing import Any

import orjson
import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from accounts.models import Advertiser
from campaigns.models import Creative
from delivery import engine
from delivery.events import STREAM
from delivery.openrtb import views
from tests.delivery.serving import fresh_index, live_ad_group
from tests.factories import PlacementFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]

PATH = "/openrtb/2.6/bid"
REQUEST: dict[str, Any] = {
    "id": "auction-1",
    "tmax": 200,
    "imp": [{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": 0.5}],
    "site": {"page": "https://news.example/story", "cat": ["IAB19"]},
    "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.9", "geo": {"country": "USA"}, "devicetype": 2},
    "user": {"buyeruid": "u-42"},
}


def bid_request(**fields: Any) -> dict[str, Any]:
    return {**copy.deepcopy(REQUEST), **fields}


def post(body: bytes | dict[str, Any], *, secure: bool = False, **headers: Any) -> HttpResponse:
    """The view as an exchange calls it (a plain function view: no session, no CSRF)."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    request = RequestFactory().post(PATH, data=raw, content_type="application/json", secure=secure, **headers)
    return views.bid(request)


def bids(answer: HttpResponse) -> list[dict[str, Any]]:
    assert answer.status_code == 200, (answer.status_code, answer.content, answer.headers)
    return orjson.loads(answer.content)["seatbid"][0]["bid"]


def recorded(redis_client) -> list[dict[str, Any]]:
    return [orjson.loads(fields[b"data"]) for _, fields in redis_client.xrange(STREAM)]


@pytest.fixture
def banner_ad():
    group = live_ad_group(size=(300, 250), bid_micros=2_000_000)
    fresh_index()
    return group


def test_a_matching_ad_is_bid_with_its_markup_and_notices(banner_ad, redis_client):
    answer = post(bid_request())
    assert answer["Content-Type"] == "application/json"
    assert answer["X-OpenRTB-Version"] == "2.6"
    response = orjson.loads(answer.content)
    assert response["id"] == "auction-1"
    [bid] = response["seatbid"][0]["bid"]
    creative = Creative.objects.get(ad_group=banner_ad)
    assert bid["impid"] == "1"
    assert bid["price"] == 2.0
    assert (bid["crid"], bid["cid"], bid["w"], bid["h"], bid["mtype"]) == (
        str(creative.pk),
        str(banner_ad.campaign_id),
        300,
        250,
        1,
    )
    assert bid["adomain"] == list(Advertiser.objects.get(pk=banner_ad.advertiser_id).domains)
    assert bid["adm"].count("http://testserver/t/v1/") == 2  # click and impression
    assert "http://testserver/media/" in bid["adm"]
    assert bid["nurl"].startswith("http://testserver/t/v1/n/win/")
    # The decision was recorded, keyed by the bid's id, with the request's context
    [event] = recorded(redis_client)
    assert (event["event_id"], event["request_id"], event["source"]) == (bid["id"], "auction-1", "openrtb")
    assert (event["user_key"], event["country"], event["device_type"]) == ("u-42", "US", "desktop")


def test_second_and_first_price(banner_ad, redis_client):
    live_ad_group(size=(300, 250), bid_micros=1_200_000)
    fresh_index()
    [bid] = bids(post(bid_request(at=2)))
    assert bid["price"] == 2.0  # the true value: the exchange charges the second price
    [bid] = bids(post(bid_request(id="auction-2", at=1)))
    assert bid["price"] == 2.0
    first, second = recorded(redis_client)
    assert first["price_cpm_micros"] == 1_200_000  # our own auction's second price, provisionally
    assert second["price_cpm_micros"] == 2_000_000  # first price: what the exchange will charge


def test_nothing_matching_is_204(banner_ad, redis_client):
    answer = post(bid_request(imp=[{"id": "1", "banner": {"w": 728, "h": 90}}]))
    assert answer.status_code == 204
    assert answer.content == b""
    assert answer["X-OpenRTB-Version"] == "2.6"
    assert answer["X-Adwright-No-Bid"] == "no ad won"
    assert recorded(redis_client) == []


def test_no_ads_at_all_is_204(db):
    fresh_index()
    assert post(bid_request()).status_code == 204


def test_a_floor_above_every_bid_is_204(banner_ad):
    assert (
        post(bid_request(imp=[{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": 2.01}])).status_code
        == 204
    )
    assert (
        post(bid_request(imp=[{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": 2.0}])).status_code
        == 200
    )


def test_a_floor_in_euros_is_compared_in_dollars(banner_ad, settings):
    settings.FX_USD_PER_UNIT = {"EUR": "1.1"}
    floor_eur = {"id": "1", "banner": {"w": 300, "h": 250}, "bidfloorcur": "EUR"}
    assert post(bid_request(imp=[floor_eur | {"bidfloor": 1.9}])).status_code == 204  # 2.09 USD
    assert post(bid_request(imp=[floor_eur | {"bidfloor": 1.8}])).status_code == 200  # 1.98 USD


def test_a_known_placement_floor_applies(banner_ad):
    PlacementFactory(key="ledger-mpu", sizes=["300x250"], floor_cpm_micros=2_500_000)
    fresh_index()
    imp = {"id": "1", "banner": {"w": 300, "h": 250}, "tagid": "ledger-mpu"}
    assert post(bid_request(imp=[imp])).status_code == 204
    assert post(bid_request(imp=[imp | {"tagid": "unknown-tag"}])).status_code == 200


def test_blocked_categories_advertisers_and_attributes_are_not_bid(banner_ad):
    Creative.objects.filter(ad_group=banner_ad).update(category="technology")  # IAB19
    Advertiser.objects.filter(pk=banner_ad.advertiser_id).update(domains=["acme.example"])
    fresh_index()
    assert post(bid_request()).status_code == 200
    assert post(bid_request(bcat=["IAB19"])).status_code == 204
    assert post(bid_request(bcat=["IAB19-6"])).status_code == 200  # another subcategory
    assert post(bid_request(badv=["acme.example"])).status_code == 204
    assert post(bid_request(badv=["www.acme.example"])).status_code == 204
    assert post(bid_request(acat=["IAB1"])).status_code == 204  # outside the allowed categories
    assert post(bid_request(acat=["IAB19"])).status_code == 200
    # battr: this index declares no attributes (delivery.index._attributes); give the ad one
    snapshot = engine.snapshot()
    for i, info in enumerate(snapshot.creative_list):
        snapshot.creative_list[i] = snapshot.creatives[info.id] = type(info)(
            **{**{f: getattr(info, f) for f in info.__slots__}, "attributes": (6,)}
        )
    assert post(bid_request()).status_code == 200
    blocked = {"id": "1", "banner": {"w": 300, "h": 250, "battr": [6]}}
    assert post(bid_request(imp=[blocked])).status_code == 204


def test_video_and_native(db):
    live_ad_group(creative_format=Creative.Format.VIDEO)
    live_ad_group(creative_format=Creative.Format.NATIVE)
    fresh_index()
    video = {"id": "v", "video": {"mimes": ["video/mp4"], "protocols": [7]}}
    [bid] = bids(post(bid_request(imp=[video])))
    assert bid["mtype"] == 2
    assert bid["adm"].startswith('<?xml version="1.0" encoding="UTF-8"?><VAST version="4.0">')
    native_request = {
        "ver": "1.2",
        "assets": [
            {"id": 1, "required": 1, "title": {"len": 90}},
            {"id": 2, "required": 1, "img": {"type": 3, "wmin": 600, "hmin": 300}},
            {"id": 3, "data": {"type": 2}},
        ],
        "eventtrackers": [{"event": 1, "methods": [1]}],
    }
    native = {"id": "n", "native": {"request": orjson.dumps(native_request).decode(), "ver": "1.2"}}
    [bid] = bids(post(bid_request(imp=[native])))
    assert bid["mtype"] == 4
    adm = orjson.loads(bid["adm"])
    assert [asset["id"] for asset in adm["assets"]] == [1, 2, 3]
    assert adm["link"]["url"].startswith("http://testserver/t/v1/c/")
    assert adm["eventtrackers"][0]["url"].startswith("http://testserver/t/v1/i/")


def test_several_impressions_get_different_ads(db):
    live_ad_group(size=(300, 250), bid_micros=3_000_000)
    live_ad_group(size=(300, 250), bid_micros=2_000_000)
    fresh_index()
    imps = [{"id": "top", "banner": {"w": 300, "h": 250}}, {"id": "side", "banner": {"w": 300, "h": 250}}]
    placed = bids(post(bid_request(imp=imps)))
    assert sorted(bid["impid"] for bid in placed) == ["side", "top"]
    assert len({bid["crid"] for bid in placed}) == 2


def test_test_requests_are_marked_in_the_decision(banner_ad, redis_client):
    bids(post(bid_request(test=1)))
    [event] = recorded(redis_client)
    assert event["test"] is True


def test_secure_impressions_need_https(banner_ad):
    secure = {"id": "1", "banner": {"w": 300, "h": 250}, "secure": 1}
    answer = post(bid_request(imp=[secure]))
    assert answer.status_code == 204
    assert "HTTPS" in answer["X-Adwright-No-Bid"]
    [bid] = bids(post(bid_request(imp=[secure]), secure=True))
    assert bid["adm"].count("https://testserver/") == 3  # image, click, pixel


def test_a_short_tmax_is_not_bid(banner_ad, redis_client):
    answer = post(bid_request(tmax=5))
    assert answer.status_code == 204
    assert "tmax" in answer["X-Adwright-No-Bid"]
    assert recorded(redis_client) == []


def test_the_no_bid_reason_header_is_safe_whatever_the_ids(db):
    fresh_index()
    answer = post(bid_request(imp=[{"id": "é\r\nX-Evil: 1", "audio": {"mimes": ["audio/mp4"]}}]))
    assert answer.status_code == 204
    assert "\n" not in answer["X-Adwright-No-Bid"]


# Refused ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"", "body"),
        (orjson.dumps(bid_request(imp=[{"id": "1", "banner": {"w": -1, "h": 250}}])), "imp[0].banner.w"),
        (orjson.dumps(bid_request(device={"w": "wide"})), "device.w"),
        (
            orjson.dumps(
                bid_request(imp=[{"id": "1", "banner": {"w": 300, "h": 250}, "pmp": {"deals": [{}]}}])
            ),
            "imp[0].pmp.deals[0].id",
        ),
    ],
)
def test_an_invalid_request_is_400_and_records_nothing(banner_ad, redis_client, body, field):
    answer = post(body)
    assert answer.status_code == 400
    assert answer["X-OpenRTB-Version"] == "2.6"
    payload = orjson.loads(answer.content)
    assert payload["error"]["field"] == field
    assert field in payload["error"]["message"]
    assert payload["errors"][0] == payload["error"]
    assert recorded(redis_client) == []


def test_malformed_json_names_the_line_and_column(db):
    payload = orjson.loads(post(b'{"id": "x",\n "imp": [,]}').content)
    assert payload["error"]["field"] == "body"
    assert "line 2, column" in payload["error"]["message"]


def test_other_methods_are_405():
    request = RequestFactory().get(PATH)
    answer = views.bid(request)
    assert answer.status_code == 405
    assert answer["Allow"] == "POST"


def test_the_body_is_capped(db):
    big = bid_request(site={"page": "https://x.example/" + "a" * views.MAX_BODY_BYTES})
    answer = post(big)
    assert answer.status_code == 413
    assert orjson.loads(answer.content)["error"]["field"] == "body"


def test_a_gzip_body_is_read_and_capped_after_decompression(banner_ad):
    assert len(bids(post(gzip.compress(orjson.dumps(bid_request())), HTTP_CONTENT_ENCODING="gzip"))) == 1
    bomb = gzip.compress(b" " * (views.MAX_BODY_BYTES * 4) + orjson.dumps(bid_request()))
    assert len(bomb) < views.MAX_BODY_BYTES
    assert post(bomb, HTTP_CONTENT_ENCODING="gzip").status_code == 413
    answer = post(b"not gzip", HTTP_CONTENT_ENCODING="gzip")
    assert (answer.status_code, orjson.loads(answer.content)["error"]["field"]) == (400, "body")
    assert post(orjson.dumps(bid_request()), HTTP_CONTENT_ENCODING="br").status_code == 415
