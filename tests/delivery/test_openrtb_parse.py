"""The OpenRTB bid request: what is refused and by which path, and how the rest becomes an AdRequest."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from delivery.openrtb import parse
from delivery.openrtb.parse import InvalidBidRequest
from delivery.openrtb.schema import MAX_IMPS
from delivery.request import PlacementInfo, Source

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
BANNER = {"format": [{"w": 300, "h": 250}]}


def request(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "req-1",
        "site": {"page": "https://news.example/a"},
        "imp": [{"id": "1", "banner": BANNER}],
    }
    return {**copy.deepcopy(base), **fields}


def imp(**fields: Any) -> dict[str, Any]:
    return {"id": "1", **fields}


def native_request(*assets: dict[str, Any]) -> dict[str, Any]:
    """A request whose one impression is native, with these assets (the request as a JSON string)."""
    return request(imp=[imp(native={"request": orjson.dumps({"assets": list(assets)}).decode()})])


def parsed(
    body: Any, *, placements: dict[str, PlacementInfo] | None = None, https: bool = True
) -> parse.BidRequest:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse.parse(raw, placements=placements or {}, now=NOW, https=https)


def error_fields(body: Any) -> list[str]:
    with pytest.raises(InvalidBidRequest) as caught:
        parsed(body)
    for error in caught.value.errors:
        assert error.field in error.message  # every message names its field too
    return [error.field for error in caught.value.errors]


# Refused, by path ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "id"),
        (request(id=""), "id"),
        (request(id=17), "id"),
        (request(imp=[]), "imp"),
        (request(imp={"id": "1"}), "imp"),
        (request(tmax=-2), "tmax"),
        (request(tmax="100"), "tmax"),
        (request(imp=[{"banner": BANNER}]), "imp[0].id"),
        (request(imp=[imp()]), "imp[0]"),
        (request(imp=[imp(banner=None)]), "imp[0]"),
        (request(imp=[imp(banner={})]), "imp[0].banner"),
        (request(imp=[imp(banner={"format": []})]), "imp[0].banner"),
        (request(imp=[imp(banner={"w": 300})]), "imp[0].banner"),
        (request(imp=[imp(banner={"w": -1, "h": 50})]), "imp[0].banner.w"),
        (request(imp=[imp(banner={"w": 300, "h": 99_999})]), "imp[0].banner.h"),
        (request(imp=[imp(banner={"w": "300", "h": 250})]), "imp[0].banner.w"),
        (request(imp=[imp(banner={"w": 300.5, "h": 250})]), "imp[0].banner.w"),
        (request(imp=[imp(banner={"w": True, "h": 250})]), "imp[0].banner.w"),
        (request(imp=[imp(banner={"format": [{}]})]), "imp[0].banner.format[0]"),
        (request(imp=[imp(banner={"format": [{"w": 30, "h": 0}]})]), "imp[0].banner.format[0]"),
        (request(imp=[imp(banner={"format": [{"w": 30, "wratio": 2}]})]), "imp[0].banner.format[0]"),
        (request(imp=[imp(banner={"format": [{"wratio": 30}]})]), "imp[0].banner.format[0]"),
        (
            request(imp=[imp(banner={"format": [{"w": 50, "h": 50, "hratio": -1}]})]),
            "imp[0].banner.format[0].hratio",
        ),
        (request(imp=[imp(banner={"format": ["300x250"]})]), "imp[0].banner.format[0]"),
        (request(imp=[imp(banner=BANNER, bidfloor=-1)]), "imp[0].bidfloor"),
        (request(imp=[imp(banner=BANNER, bidfloor="1.5")]), "imp[0].bidfloor"),
        (request(imp=[imp(banner=BANNER, bidfloorcur="dollars")]), "imp[0].bidfloorcur"),
        (request(imp=[imp(banner=BANNER, secure=2)]), "imp[0].secure"),
        (request(imp=[imp(banner=BANNER, ext="x")]), "imp[0].ext"),
        (request(imp=[imp(banner=BANNER), imp(banner=BANNER)]), "imp[1].id"),
        (request(imp=[imp(video={"mimes": []})]), "imp[0].video.mimes"),
        (request(imp=[imp(video={})]), "imp[0].video.mimes"),
        (request(imp=[imp(video={"mimes": ["video/mp4"], "w": -640})]), "imp[0].video.w"),
        (request(imp=[imp(audio={"mimes": []})]), "imp[0].audio.mimes"),
        (request(imp=[imp(native={})]), "imp[0].native.request"),
        (request(imp=[imp(native={"request": 12})]), "imp[0].native.request"),
        (request(imp=[imp(native={"request": '{"assets": [{}]'})]), "imp[0].native.request"),
        (request(imp=[imp(native={"request": "{}"})]), "imp[0].native.request.assets"),
        (
            request(imp=[imp(native={"request": '{"assets": [{"id": 1}]}'})]),
            "imp[0].native.request.assets[0]",
        ),
        (
            request(
                imp=[imp(native={"request": '{"assets": [{"id": 1, "title": {"len": 20}, "img": {}}]}'})]
            ),
            "imp[0].native.request.assets[0]",
        ),
        (
            request(imp=[imp(native={"request": '{"assets": [{"id": 1, "title": {}}]}'})]),
            "imp[0].native.request.assets[0].title.len",
        ),
        (
            native_request({"id": 1, "title": {"len": 9}}, {"id": 1, "data": {"type": 2}}),
            "imp[0].native.request.assets[1].id",
        ),
        (request(imp=[imp(banner=BANNER, pmp={"deals": [{"bidfloor": 2}]})]), "imp[0].pmp.deals[0].id"),
        (request(imp=[imp(banner=BANNER, pmp={"deals": [{"id": ""}]})]), "imp[0].pmp.deals[0].id"),
        (request(imp=[imp(banner=BANNER, pmp={"deals": ["deal-1"]})]), "imp[0].pmp.deals[0]"),
        (request(imp=[imp(banner=BANNER, metric=[{}])]), "imp[0].metric[0].type"),
        ({"id": "r", "imp": [imp(banner=BANNER)]}, "site"),
        (request(app={"id": "a"}), "site"),
        (request(dooh={"id": "d"}), "site"),
        (request(site={}), "site"),
        (request(site="news.example"), "site"),
        ({"id": "r", "dooh": {"name": "screen"}, "imp": [imp(banner=BANNER)]}, "dooh"),
        (request(site={"page": 5}), "site.page"),
        (request(site={"page": "p", "cat": "IAB1"}), "site.cat"),
        (request(site={"page": "p", "cat": ["IAB1", 7]}), "site.cat[1]"),
        (request(device={"w": -1}), "device.w"),
        (request(device={"h": -1}), "device.h"),
        (request(device={"ppi": -1}), "device.ppi"),
        (request(device={"devicetype": "phone"}), "device.devicetype"),
        (request(device={"geo": {"accuracy": -1}}), "device.geo.accuracy"),
        (request(device={"geo": {"country": 840}}), "device.geo.country"),
        (
            request(device={"sua": {"browsers": [{"brand": "Chrome"}, {"brand": ""}]}}),
            "device.sua.browsers[1].brand",
        ),
        (request(device={"sua": {"platform": {"version": ["14"]}}}), "device.sua.platform.brand"),
        (request(user={"yob": "1980"}), "user.yob"),
        (request(user={"geo": {"accuracy": -5}}), "user.geo.accuracy"),
        (request(regs={"gdpr": 2}), "regs.gdpr"),
        (request(source={"schain": {"complete": 1, "ver": "1.0"}}), "source.schain.nodes"),
        (
            request(source={"schain": {"complete": 1, "ver": "", "nodes": [{"asi": "a", "sid": "1"}]}}),
            "source.schain.ver",
        ),
        (
            request(source={"schain": {"complete": 1, "ver": "1.0", "nodes": [{"sid": "1"}]}}),
            "source.schain.nodes[0].asi",
        ),
        (request(at=3), "at"),
        (request(at="2"), "at"),
        (request(test=2), "test"),
        (request(bcat="IAB1"), "bcat"),
        (request(cur=["dollars"]), "cur[0]"),
        (request(ext=[]), "ext"),
    ],
)
def test_an_invalid_request_names_the_offending_field(body, field):
    assert error_fields(body)[0] == field


def test_every_offending_field_is_reported_in_document_order():
    body = request(id=5, tmax=-1, imp=[imp(banner={"w": -1, "h": 50})], device={"w": -2})
    fields = error_fields(body)
    assert fields[:4] == ["id", "tmax", "imp[0].banner.w", "device.w"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "body"),
        (b"   ", "body"),
        (b"malformed", "body"),
        (b'{"id": "r",}', "body"),
        (b"\xff\xfe", "body"),
        (b"[]", "body"),
        (b'"a string"', "body"),
        (b"42", "body"),
        (b"null", "id"),  # null is a request without any field, as Go decoders read it
    ],
)
def test_a_body_that_is_no_bid_request_is_refused(body, field):
    assert error_fields(body)[0] == field


def test_malformed_json_says_where():
    with pytest.raises(InvalidBidRequest) as caught:
        parsed(b'{"id": "r",\n  "imp": [}')
    assert "line 2, column" in caught.value.errors[0].message


def test_site_app_and_dooh_are_exclusive():
    fields = error_fields(request(app={"id": "a"}, dooh={"id": "d"}))
    assert fields == ["site"]
    with pytest.raises(InvalidBidRequest) as caught:
        parsed(request(app={"id": "a"}))
    assert "site and app" in caught.value.errors[0].message


def test_the_number_of_errors_reported_is_capped():
    body = request(imp=[imp(banner={"w": -1, "h": -1}, bidfloor=-1) | {"id": str(i)} for i in range(30)])
    with pytest.raises(InvalidBidRequest) as caught:
        parsed(body)
    assert len(caught.value.errors) == parse.MAX_ERRORS


def test_too_many_impressions_are_refused():
    body = request(imp=[imp(banner=BANNER) | {"id": str(i)} for i in range(MAX_IMPS + 1)])
    assert error_fields(body) == ["imp"]


# Accepted: the specification's leniencies -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        request(unknown_field={"anything": [1, 2]}),
        request(imp=[imp(banner=BANNER, ext={"prebid": {"bidder": {"x": {}}}}, someday="new")]),
        request(site={"page": "p", "ext": {"amp": 1}, "new_field": 3}),
        request(imp=[imp(banner={"w": 300.0, "h": 250})]),  # an integer written as a float
        request(imp=[imp(banner={"hmax": 50, "w": 300, "h": 250})]),  # removed in 2.6: ignored
        request(device={"geo": {"lat": 123.456, "lon": 678.9}}),  # out of range, but only unused
        request(user=None, device=None, regs=None),  # null is absent
        request(imp=[imp(banner={}, instl=1)]),  # an interstitial fills the screen: no sizes needed
        request(imp=[imp(banner={"format": [{"wratio": 6, "hratio": 5, "wmin": 300}]})]),
        request(imp=[imp(audio={"mimes": ["audio/mp4"]})]),  # valid, though we do not bid on audio
        request(at=501, cattax=2, acat=["any-acat"]),
        request(imp=[imp(native={"request": {"assets": [{"id": 1, "title": {"len": 25}}]}})]),  # an object
        request(imp=[imp(native={"request": '{"native": {"assets": [{"title": {"len": 25}}]}}'})]),  # 1.0
    ],
)
def test_a_valid_request_is_accepted(body):
    assert isinstance(parsed(body), parse.BidRequest)


# Translation ---------------------------------------------------------------------------------------


def test_the_request_becomes_an_ad_request():
    body = request(
        id="auction-7",
        at=1,
        test=1,
        tmax=120,
        imp=[imp(banner={"w": 728, "h": 90, "format": [{"w": 300, "h": 250}], "battr": [13]}, bidfloor=0.5)],
        site={
            "page": "https://news.example/cars",
            "cat": ["IAB2-1", "IAB17"],
            "keywords": "Electric Cars, suv ",
            "content": {"kwarray": ["Road Trips"], "cat": ["IAB20"]},
        },
        device={
            "ua": "Mozilla/5.0",
            "ip": "203.0.113.9",
            "geo": {"country": "USA", "region": "CA"},
            "language": "en",
            "devicetype": 4,
            "os": "iOS",
        },
        user={"yob": 1990, "gender": "F", "keywords": "hiking"},
        bcat=["IAB25", "IAB7-39"],
        badv=["https://www.Casino.example/", "rival.example"],
    )
    result = parsed(body)
    ad = result.ad_request
    assert ad is not None
    assert (ad.id, ad.source, ad.first_price, ad.test) == ("auction-7", Source.OPENRTB, True, True)
    [slot] = ad.slots
    assert slot.id == "1"
    assert slot.placement_id is None  # exchange inventory we do not list
    assert slot.formats == {"banner"}
    assert slot.sizes == {(728, 90), (300, 250)}
    assert slot.floor_cpm_micros == 500_000
    ctx = ad.context
    assert (ctx.country, ctx.region, ctx.language, ctx.device_type, ctx.os) == (
        "US",
        "US-CA",
        "en",
        "mobile",
        "ios",
    )
    assert (ctx.age, ctx.gender) == (35, "female")
    assert ctx.interests == {"automotive", "sports", "travel"}
    assert ctx.keywords == {"electric cars", "suv", "road trips", "hiking"}
    assert (ctx.url, ctx.ip, ctx.user_agent) == ("https://news.example/cars", "203.0.113.9", "Mozilla/5.0")
    assert ad.blocked_categories == {"IAB25", "IAB7-39"}
    assert ad.blocked_domains == {"casino.example", "rival.example"}
    assert ad.blocked_attributes == {13}
    assert result.offers["1"].formats == {"banner"}


def test_battr_of_every_impression_applies_to_the_request():
    body = request(
        imp=[
            imp(banner=BANNER | {"battr": [1, 2]}),
            {"id": "2", "video": {"mimes": ["video/mp4"], "battr": [14]}},
            {"id": "3", "native": {"request": '{"assets": [{"id": 1, "title": {"len": 9}}]}', "battr": [3]}},
        ]
    )
    assert parsed(body).ad_request.blocked_attributes == {1, 2, 3, 14}


@pytest.mark.parametrize(
    ("device", "user", "expected"),
    [
        ({}, {"buyeruid": "ours-1", "id": "theirs"}, "ours-1"),
        ({"ifa": "AA000DFE-7416"}, {"id": "theirs"}, "ifa:aa000dfe-7416"),
        ({"ifa": "00000000-0000-0000-0000-000000000000"}, {"id": "theirs"}, "ortb:theirs"),
        ({"ip": "203.0.113.9", "ua": "UA"}, {}, None),
    ],
)
def test_the_user_key_prefers_our_own_id(device, user, expected):
    key = parsed(request(device=device, user=user)).ad_request.user_key
    if expected is None:
        assert key.startswith("anon-")
        assert key == parsed(request(device=device, user=user)).ad_request.user_key  # stable
    else:
        assert key == expected


@pytest.mark.parametrize(
    ("geo", "country", "region"),
    [
        ({"country": "DEU", "region": "BY"}, "DE", "DE-BY"),
        ({"country": "usa", "region": "us-ny"}, "US", "US-NY"),
        ({"country": "GB"}, "GB", ""),  # alpha-2, as some exchanges send
        ({"country": "XXX", "region": "CA"}, "", ""),
        ({"country": "USA", "region": "ZZ"}, "US", ""),
        ({"country": "USA", "region": "FR-75"}, "US", ""),
    ],
)
def test_countries_come_in_alpha_3_and_regions_as_iso_3166_2(geo, country, region):
    ctx = parsed(request(device={"geo": geo})).ad_request.context
    assert (ctx.country, ctx.region) == (country, region)


def test_user_geo_is_used_when_the_device_has_none():
    ctx = parsed(request(user={"geo": {"country": "FRA"}})).ad_request.context
    assert ctx.country == "FR"


@pytest.mark.parametrize(
    ("os", "expected"),
    [
        ("iOS", "ios"),
        ("Android", "android"),
        ("OS X", "macos"),
        ("Mac OS X", "macos"),
        ("Windows 10", "windows"),
        ("Linux", "linux"),
        ("Chrome OS", "chromeos"),
        ("Tizen", "other"),
        ("", ""),
    ],
)
def test_operating_systems(os, expected):
    assert parse.operating_system(os) == expected


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ({"devicetype": 2}, "desktop"),
        ({"devicetype": 5}, "tablet"),
        ({"devicetype": 3}, "ctv"),
        ({"devicetype": 8}, ""),
    ],
)
def test_device_types(device, expected):
    assert parsed(request(device=device)).ad_request.context.device_type == expected


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ({"language": "EN"}, "en"),
        ({"langb": "pt-BR"}, "pt"),
        ({"language": "xx", "langb": "de-AT"}, "de"),
        ({}, ""),
    ],
)
def test_languages(device, expected):
    assert parsed(request(device=device)).ad_request.context.language == expected


@pytest.mark.parametrize(("yob", "age"), [(1990, 35), (2020, None), (1800, None), (0, None)])
def test_age_from_year_of_birth(yob, age):
    assert parsed(request(user={"yob": yob})).ad_request.context.age == age


def test_categories_in_another_taxonomy_are_not_read_as_interests():
    ctx = parsed(request(site={"page": "p", "cattax": 2, "cat": ["IAB2"]})).ad_request.context
    assert ctx.interests == frozenset()


def test_a_known_placement_brings_its_floor_and_publisher():
    placement = PlacementInfo(
        id=7, key="daily-ledger-mpu", publisher_id=3, publisher_domain="ledger.example",
        format="banner", sizes=frozenset({(300, 250)}), floor_cpm_micros=800_000,
    )  # fmt: skip
    placements = {placement.key: placement}
    [slot] = parsed(
        request(imp=[imp(banner=BANNER, tagid="daily-ledger-mpu", bidfloor=0.5)]), placements=placements
    ).ad_request.slots
    assert (slot.placement_id, slot.publisher_id, slot.floor_cpm_micros) == (7, 3, 800_000)
    [slot] = parsed(
        request(imp=[imp(banner=BANNER, tagid="daily-ledger-mpu", bidfloor=1.25)]), placements=placements
    ).ad_request.slots
    assert slot.floor_cpm_micros == 1_250_000  # the higher of the two
    [slot] = parsed(
        request(imp=[imp(banner=BANNER, tagid="somewhere-else")]), placements=placements
    ).ad_request.slots
    assert (slot.placement_id, slot.floor_cpm_micros) == (None, 0)


def test_a_floor_in_another_currency_is_converted_up_to_usd(settings):
    settings.FX_USD_PER_UNIT = {"EUR": "1.1"}
    [slot] = parsed(request(imp=[imp(banner=BANNER, bidfloor=1.5, bidfloorcur="EUR")])).ad_request.slots
    assert slot.floor_cpm_micros == 1_650_000
    assert parse.floor_usd_micros(0.1, "EUR") == 110_000
    assert parse.floor_usd_micros(0.3333333, "EUR") == 366_667  # 366,666.63 rounded up, never under


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (request(tmax=5), "tmax"),
        (request(bseat=["adwright"]), "seat"),
        (request(wseat=["someone-else"]), "seat"),
        (request(cur=["EUR"]), "USD"),
        (request(bcat=["IAB25"], cattax=6), "taxonomy"),
        (
            request(imp=[imp(banner=BANNER, pmp={"private_auction": 1, "deals": [{"id": "d1"}]})]),
            "private auction",
        ),
        (request(imp=[imp(banner=BANNER, bidfloorcur="XAF")]), "exchange rate"),
        (request(imp=[imp(banner=BANNER, bidfloor=1e12)]), "floor above"),
        (request(imp=[imp(audio={"mimes": ["audio/mp4"]})]), "no format"),
        (request(imp=[imp(banner={"format": [{"wratio": 7, "hratio": 3, "wmin": 10}]})]), "no format"),
        (request(imp=[imp(banner={}, instl=1)], device={"w": 100, "h": 100}), "no format"),
    ],
)
def test_nothing_to_bid_on_is_a_no_bid_not_an_error(body, reason):
    result = parsed(body)
    assert result.ad_request is None
    assert reason in result.no_bid_reason


def test_secure_markup_needs_https():
    body = request(imp=[imp(banner=BANNER, secure=1)])
    assert parsed(body, https=True).ad_request is not None
    assert "HTTPS" in parsed(body, https=False).no_bid_reason


def test_only_the_impressions_we_can_sell_become_slots():
    body = request(
        imp=[
            imp(audio={"mimes": ["audio/mp4"]}),
            {"id": "2", "banner": BANNER, "video": {"mimes": ["video/mp4"]}},
        ]
    )
    result = parsed(body)
    [slot] = result.ad_request.slots
    assert (slot.id, slot.formats) == ("2", {"banner", "video"})
    assert set(result.offers) == {"2"}


def test_a_tmax_of_zero_means_no_limit():
    assert parsed(request(tmax=0)).ad_request is not None


def test_interstitials_take_the_iab_sizes_that_fit_the_screen():
    body = request(imp=[imp(banner={}, instl=1)], device={"w": 750, "h": 1334, "pxratio": 2})
    [slot] = parsed(body).ad_request.slots
    assert (300, 250) in slot.sizes
    assert (728, 90) not in slot.sizes  # 375 DIPs wide
    [slot] = parsed(request(imp=[imp(banner={}, instl=1)])).ad_request.slots
    assert slot.sizes == frozenset()  # screen unknown: any size


def test_flexible_formats_take_the_iab_sizes_of_their_ratio():
    body = request(imp=[imp(banner={"format": [{"wratio": 6, "hratio": 5, "wmin": 320}]})])
    [slot] = parsed(body).ad_request.slots
    assert slot.sizes == {(336, 280)}


def test_native_assets_we_cannot_fill_keep_native_out_of_the_slot():
    fillable = '{"assets": [{"id": 1, "required": 1, "title": {"len": 25}}, {"id": 2, "img": {"type": 1}}]}'
    icon_required = '{"assets": [{"id": 1, "required": 1, "img": {"type": 1, "wmin": 50}}]}'
    rating_required = '{"assets": [{"id": 1, "required": 1, "data": {"type": 3}}]}'
    video_required = (
        '{"assets": [{"id": 1, "required": 1, "video": {"mimes": ["video/mp4"], "minduration": 5,'
        ' "maxduration": 30, "protocols": [2]}}]}'
    )
    assert parsed(request(imp=[imp(native={"request": fillable})])).ad_request.slots[0].formats == {"native"}
    for native in (icon_required, rating_required, video_required):
        assert parsed(request(imp=[imp(native={"request": native})])).ad_request is None


def test_native_1_0_requests_are_unwrapped_and_numbered():
    body = request(
        imp=[
            imp(native={"request": '{"native": {"assets": [{"title": {"len": 9}}, {"data": {"type": 2}}]}}'})
        ]
    )
    spec = parsed(body).offers["1"].native
    assert spec is not None
    assert spec.wrapped
    assert [(a.id, a.kind) for a in spec.assets] == [(0, "title"), (1, "data")]


@pytest.mark.parametrize(
    ("protocols", "version"), [([2, 3], "3.0"), ([2, 5], "2.0"), ([3, 7], "4.0"), ([], "4.0")]
)
def test_the_vast_version_follows_the_protocols(protocols, version):
    body = request(imp=[imp(video={"mimes": ["video/mp4"], "protocols": protocols})])
    assert parsed(body).offers["1"].vast_version == version


# Never a crash -------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
RICH = request(
    at=1,
    tmax=100,
    cur=["USD"],
    bcat=["IAB25"],
    badv=["x.example"],
    acat=["IAB1"],
    imp=[
        imp(
            banner={
                "w": 300,
                "h": 250,
                "format": [{"w": 300, "h": 600}, {"wratio": 6, "hratio": 5, "wmin": 300}],
            },
            video={"mimes": ["video/mp4"], "protocols": [2, 7], "w": 640, "h": 480},
            native={
                "request": {
                    "assets": [{"id": 1, "required": 1, "title": {"len": 20}}, {"id": 2, "img": {"type": 3}}]
                }
            },
            pmp={"private_auction": 0, "deals": [{"id": "d1", "bidfloor": 1.0}]},
            bidfloor=0.5,
            bidfloorcur="EUR",
            tagid="tag",
            instl=0,
        )
    ],
    site={
        "page": "https://p.example",
        "cat": ["IAB2"],
        "keywords": "a,b",
        "content": {"cat": ["IAB3"], "kwarray": ["c"]},
    },
    device={
        "ua": "UA",
        "ip": "203.0.113.1",
        "devicetype": 4,
        "os": "iOS",
        "language": "en",
        "w": 375,
        "h": 812,
        "pxratio": 2,
        "geo": {"country": "USA", "region": "CA"},
        "sua": {"platform": {"brand": "iOS"}, "mobile": 1},
    },
    user={"buyeruid": "b", "yob": 1980, "gender": "M", "keywords": "k", "geo": {"country": "USA"}},
    source={"schain": {"complete": 1, "ver": "1.0", "nodes": [{"asi": "a.example", "sid": "1"}]}},
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_paths(item, (*prefix, index)))
    return out


PATHS = _paths(RICH)


@settings(max_examples=300, deadline=None)
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), JSON), min_size=1, max_size=4))
def test_any_value_anywhere_is_a_bid_request_or_a_400(changes):
    body = copy.deepcopy(RICH)
    for path, value in changes:
        holder = body
        try:
            for step in path[:-1]:
                holder = holder[step]
            holder[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced a parent
    try:
        raw = orjson.dumps(body)
    except TypeError:  # an index set into what became an object: not JSON
        assume(False)
    try:
        parsed(raw)
    except InvalidBidRequest as exc:
        assert exc.errors


@settings(max_examples=200, deadline=None)
@given(body=JSON)
def test_any_json_is_a_bid_request_or_a_400(body):
    try:
        parsed(body)
    except InvalidBidRequest as exc:
        assert exc.errors
