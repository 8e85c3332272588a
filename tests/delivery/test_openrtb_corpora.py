"""Every request of the external corpora (../shared/corpora, see its README) against the bidder.

Valid requests (the OpenRTB 2.6 specification's examples, Prebid Server's valid-whole) answer a
BidResponse or 204; invalid ones (Prebid Server's invalid-whole) answer 400 naming the field that
the fixture's expected message names, and nothing is decided or recorded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from campaigns.models import Creative
from delivery.events import STREAM
from tests.delivery.corpora import CORPORA, requires_corpora
from tests.delivery.serving import fresh_index, live_ad_group
from tests.delivery.test_openrtb_view import post

VALID = sorted(CORPORA.glob("openrtb/ortb2.6_bid-request-*.json")) + sorted(
    CORPORA.glob("prebid/valid-whole/*.json")
)
INVALID = sorted(CORPORA.glob("prebid/invalid-whole/*.json"))

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client"), requires_corpora]


def test_the_corpora_are_there():
    assert len(VALID) >= 10
    assert len(INVALID) >= 10
    assert len(list(CORPORA.glob("openrtb/native1.2_*.json"))) == 2


def body_of(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The request body a file holds: itself (the specification's examples) or its mockBidRequest,
    which is the raw body when it is a string."""
    data = json.loads(path.read_text())
    if "mockBidRequest" not in data:
        return path.read_bytes(), data
    raw = data["mockBidRequest"]
    return (raw.encode() if isinstance(raw, str) else orjson.dumps(raw)), data


def expected_field(message: str) -> str:
    """The path the fixture's message names, as we write it: "request.imp[0].banner has no sizes"
    -> "imp[0].banner"; 'request missing required field: "id"' -> "id"; no path -> "body"."""
    if match := re.search(r'missing required field: "(\w+)"', message):
        prefix = re.search(r"request\.([\w\[\].]+?) missing", message)
        return f"{prefix.group(1)}.{match.group(1)}" if prefix else match.group(1)
    if match := re.search(r"request\.([\w\[\]]+(?:\.[\w\[\]]+)*)", message):
        return match.group(1)
    return "body"


@pytest.fixture
def ads():
    """Ads that the corpus requests can buy: banners in their sizes, a video; USD 2.00 CPM bids."""
    live_ad_group(size=(300, 250))
    live_ad_group(size=(728, 90))
    live_ad_group(creative_format=Creative.Format.VIDEO)
    fresh_index()


@pytest.mark.parametrize("path", VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_valid_request_answers_a_bid_response_or_204(path, ads):
    body, _ = body_of(path)
    request = orjson.loads(body)
    answer = post(body)
    assert answer.status_code in (200, 204), answer.content
    assert answer["X-OpenRTB-Version"] == "2.6"
    if answer.status_code == 204:
        assert answer.content == b""
        return
    response = orjson.loads(answer.content)
    assert response["id"] == request["id"]
    assert response["cur"] == "USD"
    imps = {imp["id"]: imp for imp in request["imp"]}
    for bid in response["seatbid"][0]["bid"]:
        assert bid["impid"] in imps
        assert bid["price"] >= imps[bid["impid"]].get("bidfloor", 0)
        assert bid["adm"] and bid["nurl"] and bid["burl"] and bid["lurl"]


def test_the_specification_examples_are_bid_on(ads):
    """With ads of the right sizes, the examples the specification answers with a bid get one."""
    bidders = {
        "ortb2.6_bid-request-simple-banner.json": (1, 2.0),  # at=1: the bid
        "ortb2.6_bid-request-expandable-creative.json": (1, 2.0),
        "ortb2.6_bid-request-mobile.json": (1, 2.0),
        "ortb2.6_bid-request-video.json": (2, 2.0),
    }
    for name, (mtype, price) in bidders.items():
        answer = post(body_of(CORPORA / "openrtb" / name)[0])
        assert answer.status_code == 200, name
        [bid] = orjson.loads(answer.content)["seatbid"][0]["bid"]
        assert (bid["mtype"], bid["price"]) == (mtype, price), name
    # A private auction of deals we do not hold
    assert (
        post(body_of(CORPORA / "openrtb" / "ortb2.6_bid-request-pmp-direct-deal.json")[0]).status_code == 204
    )


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_an_invalid_request_answers_400_naming_the_field(path, redis_client):
    body, fixture = body_of(path)
    field = expected_field(fixture["expectedErrorMessage"])
    answer = post(body)
    assert answer.status_code == fixture["expectedReturnCode"] == 400
    assert answer["X-OpenRTB-Version"] == "2.6"
    payload = orjson.loads(answer.content)
    assert payload["error"]["field"] == field, payload
    assert field in payload["error"]["message"]
    assert redis_client.xlen(STREAM) == 0  # nothing decided, nothing recorded


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ('Invalid request: request missing required field: "id"\n', "id"),
        (
            'Invalid request: request.imp[0].pmp.deals[0] missing required field: "id"\n',
            "imp[0].pmp.deals[0].id",
        ),
        ("Invalid request: request.imp[0].banner.w must be a positive number", "imp[0].banner.w"),
        ('Invalid request: request.imp[0].banner has no sizes. Define "w" and "h"', "imp[0].banner"),
        ("Invalid request: request.imp must contain at least one element.\n", "imp"),
        ("Invalid request: No more than one of request.site or request.app", "site"),
        ("Invalid request: expect { or n, but found m", "body"),
    ],
)
def test_the_expected_field_is_read_from_the_fixture_message(message, field):
    assert expected_field(message) == field
