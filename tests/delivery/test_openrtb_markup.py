"""What we answer an exchange with: banner HTML, Native 1.2, VAST, and the bid around them."""

from __future__ import annotations

import json
from dataclasses import replace
from html.parser import HTMLParser
from urllib.parse import quote
from xml.etree import ElementTree

import orjson
import pytest
from django.utils import timezone

from delivery.openrtb import markup, response
from delivery.openrtb.parse import BidRequest, NativeAsset, NativeSpec, Offer
from delivery.request import AdRequest, Context, CreativeInfo, Decision, Source, Win
from delivery.tracking import TrackingUrls
from tests.delivery import corpora

CORPORA = corpora.CORPORA / "openrtb"
BASE = "https://ads.example"
URLS = TrackingUrls(impression_url=f"{BASE}/t/v1/i/IMP.gif", click_url=f"{BASE}/t/v1/c/CLICK")
BANNER = CreativeInfo(
    id=41,
    ad_group_id=31,
    campaign_id=21,
    advertiser_id=11,
    format="banner",
    width=300,
    height=250,
    image_url="/media/creatives/11/banner.png",
    headline='Boots & "more"',
    body="Waterproof leather hiking boots, resoled for life.",
    call_to_action="Shop now",
    landing_url="https://shop.example/boots?utm=1",
    vast_url="",
    vast_xml="",
    advertiser_name="Acme Outdoor",
    advertiser_domains=("acme.example",),
    categories=("IAB9-6",),
    attributes=(),
)
NATIVE = replace(BANNER, format="native", width=1200, height=628, image_url="/media/creatives/11/native.png")
VIDEO = replace(
    BANNER, format="video", width=None, height=None, image_url="", vast_url="https://video.example/vast.xml"
)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a":
            self.hrefs.append(values["href"] or "")
        if tag == "img":
            self.images.append(values["src"] or "")


def test_banner_html_links_the_click_url_and_fires_the_pixel():
    html = markup.banner_html(BANNER, URLS, BASE)
    links = Links()
    links.feed(html)
    assert links.hrefs == [URLS.click_url]
    assert links.images == [f"{BASE}/media/creatives/11/banner.png", URLS.impression_url]
    assert 'width="300" height="250"' in html
    assert "Boots &amp; &quot;more&quot;" in html  # the creative's text is escaped


def test_media_urls_are_made_absolute():
    assert markup.absolute_url("/media/x.png", BASE) == f"{BASE}/media/x.png"
    assert markup.absolute_url("media/x.png", BASE) == f"{BASE}/media/x.png"
    assert markup.absolute_url("https://cdn.example/x.png", BASE) == "https://cdn.example/x.png"


def native_request_spec() -> NativeSpec:
    return NativeSpec(
        assets=(
            NativeAsset(1, True, "title", length=12),
            NativeAsset(2, True, "img", type=3, min_width=600, min_height=300),
            NativeAsset(3, False, "img", type=1),  # an icon: we have none, and it is optional
            NativeAsset(4, False, "data", type=2, length=140),
            NativeAsset(5, False, "data", type=12),
            NativeAsset(6, False, "data", type=1),
            NativeAsset(7, False, "data", type=11),
            NativeAsset(8, False, "data", type=3),  # a rating: we have none
        ),
        wrapped=False,
        image_trackers=True,
    )


def test_native_answers_the_requested_assets_in_native_1_2():
    answer = orjson.loads(markup.native_json(NATIVE, native_request_spec(), URLS, BASE))
    assert answer["ver"] == "1.2"
    assert answer["link"] == {"url": URLS.click_url}
    assert answer["eventtrackers"] == [{"event": 1, "method": 1, "url": URLS.impression_url}]
    assets = {asset["id"]: asset for asset in answer["assets"]}
    assert set(assets) == {1, 2, 4, 5, 6, 7}
    assert assets[1]["title"]["text"] == 'Boots & "mo…'  # cut to the requested 12 characters
    assert assets[2]["img"] == {
        "type": 3,
        "url": f"{BASE}/media/creatives/11/native.png",
        "w": 1200,
        "h": 628,
    }
    assert assets[4]["data"]["value"] == NATIVE.body
    assert assets[5]["data"]["value"] == "Shop now"
    assert assets[6]["data"]["value"] == "Acme Outdoor"
    assert assets[7]["data"]["value"] == "shop.example"


@corpora.requires_corpora
def test_native_matches_the_corpus_response_shape():
    example = json.loads((CORPORA / "native1.2_response-clickout.json").read_text())
    answer = orjson.loads(markup.native_json(NATIVE, native_request_spec(), URLS, BASE))
    assert set(answer) <= set(example) | {"ver", "imptrackers"}
    for asset in answer["assets"]:
        kind = next(key for key in asset if key != "id")
        assert kind in {"title", "img", "data"}
        assert set(asset[kind]) <= {"text", "url", "w", "h", "type", "value"}


def test_native_without_event_trackers_uses_imptrackers_and_keeps_a_1_0_wrapper():
    spec = NativeSpec(assets=(NativeAsset(0, True, "title"),), wrapped=True, image_trackers=False)
    answer = orjson.loads(markup.native_json(NATIVE, spec, URLS, BASE))
    assert answer["native"]["imptrackers"] == [URLS.impression_url]
    assert "eventtrackers" not in answer["native"]


def test_native_with_a_required_asset_we_cannot_fill_is_no_answer():
    too_big = NativeSpec(
        assets=(NativeAsset(1, True, "img", type=3, min_width=2000),), wrapped=False, image_trackers=False
    )
    assert markup.native_json(NATIVE, too_big, URLS, BASE) is None
    no_headline = NativeSpec(assets=(NativeAsset(1, True, "title"),), wrapped=False, image_trackers=False)
    assert markup.native_json(replace(NATIVE, headline=""), no_headline, URLS, BASE) is None


def vast_tree(document: str) -> ElementTree.Element:
    root = ElementTree.fromstring(document)  # noqa: S314 - our own output
    for element in root.iter():  # compare without the VAST namespace
        element.tag = element.tag.rpartition("}")[2]
    return root


def test_a_vast_url_is_wrapped_with_our_impression_and_click_tracking():
    document = markup.vast(replace(VIDEO, vast_url="https://video.example/vast.xml?a=1&b=2"), URLS, "3.0")
    root = vast_tree(document)
    assert root.get("version") == "3.0"
    wrapper = root.find("Ad/Wrapper")
    assert wrapper.findtext("VASTAdTagURI") == "https://video.example/vast.xml?a=1&b=2"
    assert wrapper.findtext("Impression") == URLS.impression_url
    assert wrapper.findtext("Creatives/Creative/Linear/VideoClicks/ClickTracking") == URLS.click_url


@corpora.requires_corpora
def test_vast_xml_gets_our_impression_and_click_through():
    example = json.loads((CORPORA / "ortb2.6_bid-response-vast-inline.json").read_text())
    inline = example["seatbid"][0]["bid"][0]["adm"]
    root = vast_tree(markup.vast(replace(VIDEO, vast_url="", vast_xml=inline), URLS))
    ad = root.find("Ad/InLine")
    assert [i.text for i in ad.findall("Impression")] == ["http://sample.com", URLS.impression_url]
    assert ad.findtext("Creatives/Creative/Linear/VideoClicks/ClickThrough") == URLS.click_url
    assert (
        ad.findtext("Creatives/Creative/Linear/MediaFiles/MediaFile").strip() == "http://sample.com/video.mp4"
    )


def test_a_namespaced_vast_4_document_keeps_its_namespace():
    document = (
        '<VAST xmlns="http://www.iab.com/VAST" version="4.1"><Ad id="1"><InLine><AdSystem>X</AdSystem>'
        "<Impression><![CDATA[https://x.example/imp?a=1&b=2]]></Impression><Creatives><Creative><Linear>"
        '<Duration>00:00:10</Duration><MediaFiles><MediaFile delivery="progressive" type="video/mp4"'
        ' width="640" height="360">https://x.example/v.mp4</MediaFile></MediaFiles></Linear></Creative>'
        "</Creatives></InLine></Ad></VAST>"
    )
    answer = markup.vast(replace(VIDEO, vast_url="", vast_xml=document), URLS)
    root = ElementTree.fromstring(answer)  # noqa: S314 - our own output
    assert root.tag == "{http://www.iab.com/VAST}VAST"
    linear = vast_tree(answer).find("Ad/InLine/Creatives/Creative/Linear")
    assert [child.tag for child in linear] == ["Duration", "VideoClicks", "MediaFiles"]
    assert linear.findtext("VideoClicks/ClickThrough") == URLS.click_url
    assert "https://x.example/imp?a=1&amp;b=2" in answer


@pytest.mark.parametrize("document", ["<VAST><Ad>", "<html></html>", '<VAST version="4.0"></VAST>'])
def test_vast_xml_that_is_not_vast_is_no_answer(document):
    assert markup.vast(replace(VIDEO, vast_url="", vast_xml=document), URLS) is None


# The bid ---------------------------------------------------------------------------------------------


def win(creative: CreativeInfo, *, slot_id: str = "imp-1", bid: int = 1_250_000) -> Win:
    return Win(
        event_id="0190e7d6-0000-7000-8000-000000000001",
        slot_id=slot_id,
        placement_id=None,
        advertiser_id=creative.advertiser_id,
        campaign_id=creative.campaign_id,
        ad_group_id=creative.ad_group_id,
        creative_id=creative.id,
        bid_cpm_micros=bid,
        price_cpm_micros=bid // 2,
        price_micros=bid // 2000,
        currency="USD",
        billing_event="impression",
        pctr=0.01,
        pcvr=0.0,
        runner_up_cpm_micros=None,
    )


def bid_request(offer: Offer, **fields) -> BidRequest:
    ad = AdRequest(
        id="auction/7", user_key="u-1", context=Context(), slots=(), at=timezone.now(), source=Source.OPENRTB
    )
    return BidRequest(id="auction/7", ad_request=ad, offers={offer.imp_id: offer}, **fields)


def answer_for(creative: CreativeInfo, offer: Offer, **fields) -> dict | None:
    request = bid_request(offer, **fields)
    decision = Decision(request=request.ad_request, wins=[win(creative, slot_id=offer.imp_id)])
    return response.bid_response(request, decision, {creative.id: creative}, BASE)


def test_a_bid_response_carries_price_creative_and_notices():
    answer = answer_for(BANNER, Offer("imp-1", frozenset({"banner"})))
    assert answer["id"] == "auction/7"
    assert answer["cur"] == "USD"
    [seat] = answer["seatbid"]
    assert seat["seat"] == "adwright"
    [bid] = seat["bid"]
    assert bid["id"] == "0190e7d6-0000-7000-8000-000000000001"
    assert bid["impid"] == "imp-1"
    assert bid["price"] == 1.25  # the winner's eCPM: the exchange's auction sets what is paid
    assert (bid["adid"], bid["crid"], bid["cid"]) == ("41", "41", "21")
    assert bid["adomain"] == ["acme.example"]
    assert (bid["cat"], bid["cattax"]) == (["IAB9-6"], 1)
    assert (bid["mtype"], bid["w"], bid["h"]) == (1, 300, 250)
    assert bid["iurl"] == f"{BASE}/media/creatives/11/banner.png"
    assert "/t/v1/c/" in bid["adm"] and "/t/v1/i/" in bid["adm"]
    assert bid["nurl"].startswith(f"{BASE}/t/v1/n/win/")
    assert bid["burl"].startswith(f"{BASE}/t/v1/n/billing/")
    assert bid["lurl"].startswith(f"{BASE}/t/v1/n/loss/")
    # The exchange's macros are left for the exchange
    assert bid["nurl"].endswith("price=${AUCTION_PRICE}")
    assert bid["lurl"].endswith("price=${AUCTION_PRICE}&reason=${AUCTION_LOSS}")


def test_prices_are_exact_to_the_micro():
    assert response.price_float(1_250_000) == 1.25
    assert response.price_float(30_000) == 0.03
    assert response.price_float(1_234_567) == 1.234567
    answer = answer_for(BANNER, Offer("imp-1", frozenset({"banner"})))
    assert b'"price":1.25' in orjson.dumps(answer)


def test_our_own_macros_are_substituted_url_encoded():
    values = {"${AUCTION_ID}": "auction/7", "${AUCTION_IMP_ID}": "imp 1", "${AUCTION_CURRENCY}": "USD"}
    text = "https://x.example/n?a=${AUCTION_ID}&i=${AUCTION_IMP_ID}&c=${AUCTION_CURRENCY}&p=${AUCTION_PRICE}"
    assert response.substitute(text, values) == (
        "https://x.example/n?a=auction%2F7&i=imp%201&c=USD&p=${AUCTION_PRICE}"
    )


def test_macros_in_the_markup_are_substituted():
    creative = replace(
        VIDEO,
        vast_url="",
        vast_xml=(
            '<VAST version="3.0"><Ad><InLine><AdSystem>A</AdSystem><Impression>'
            "https://adv.example/i?auction=${AUCTION_ID}&amp;bid=${AUCTION_BID_ID}&amp;seat=${AUCTION_SEAT_ID}"
            "&amp;ad=${AUCTION_AD_ID}&amp;price=${AUCTION_PRICE}</Impression></InLine></Ad></VAST>"
        ),
    )
    answer = answer_for(creative, Offer("imp-1", frozenset({"video"})))
    [bid] = answer["seatbid"][0]["bid"]
    assert f"auction={quote('auction/7', safe='')}" in bid["adm"]
    assert f"bid={answer['bidid']}" in bid["adm"]
    assert "seat=adwright" in bid["adm"] and "ad=41" in bid["adm"]
    assert "price=${AUCTION_PRICE}" in bid["adm"]
    assert bid["mtype"] == 2


def test_native_and_video_bids():
    spec = NativeSpec(assets=(NativeAsset(1, True, "title", length=90),), wrapped=False, image_trackers=False)
    [native] = answer_for(NATIVE, Offer("imp-1", frozenset({"native"}), native=spec))["seatbid"][0]["bid"]
    assert native["mtype"] == 4
    assert orjson.loads(native["adm"])["assets"] == [{"id": 1, "title": {"text": NATIVE.headline}}]
    assert "w" not in native
    [video] = answer_for(VIDEO, Offer("imp-1", frozenset({"video"}), vast_version="2.0"))["seatbid"][0]["bid"]
    assert video["mtype"] == 2
    assert vast_tree(video["adm"]).get("version") == "2.0"


@pytest.mark.parametrize(
    ("creative", "offer", "fields"),
    [
        (BANNER, Offer("imp-1", frozenset({"native"})), {}),  # the imp does not take this format
        (NATIVE, Offer("imp-1", frozenset({"native"}), native=None), {}),
        (replace(VIDEO, vast_url="", vast_xml="<nope>"), Offer("imp-1", frozenset({"video"})), {}),
        (BANNER, Offer("imp-1", frozenset({"banner"})), {"allowed_categories": frozenset({"IAB1"})}),
        (
            replace(BANNER, categories=()),
            Offer("imp-1", frozenset({"banner"})),
            {"allowed_categories": frozenset({"IAB9"})},
        ),
    ],
)
def test_a_win_that_cannot_be_rendered_for_its_impression_is_no_bid(creative, offer, fields):
    assert answer_for(creative, offer, **fields) is None


def test_allowed_categories_accept_their_subcategories():
    answer = answer_for(BANNER, Offer("imp-1", frozenset({"banner"})), allowed_categories=frozenset({"IAB9"}))
    assert answer is not None


def test_a_bid_of_zero_is_no_bid():
    request = bid_request(Offer("imp-1", frozenset({"banner"})))
    decision = Decision(request=request.ad_request, wins=[win(BANNER, slot_id="imp-1", bid=0)])
    assert response.bid_response(request, decision, {BANNER.id: BANNER}, BASE) is None


def test_a_creative_gone_from_the_index_is_no_bid():
    request = bid_request(Offer("imp-1", frozenset({"banner"})))
    decision = Decision(request=request.ad_request, wins=[win(BANNER, slot_id="imp-1")])
    assert response.bid_response(request, decision, {}, BASE) is None
