"""The BidResponse for a decision: one seat, one bid per impression won.

    {"id": <request id>, "bidid": <ours>, "cur": "USD",
     "seatbid": [{"seat": "adwright", "bid": [{"id": <Win.event_id>, "impid": ..., "price": 1.25,
        "adid", "crid", "cid", "adomain", "cat", "attr", "mtype", "w", "h", "adm",
        "nurl", "burl", "lurl"}]}]}

- `price` is the winning ad group's eCPM (`Win.bid_cpm_micros`, USD micros, turned into the one
  float of the wire format). Our own auction chooses which ad we offer; the exchange's auction sets
  what is paid. In a second-price auction (`at=2`) bidding the true value wins every impression
  worth winning and never pays more than the second price, reported on the billing notice as
  `${AUCTION_PRICE}`; bidding our own clearing price instead would lose impressions the advertiser
  values, and bid nothing at all for a lone ad without a floor. In a first-price auction (`at=1`)
  the engine prices the win at the bid too, so the price recorded with the decision is what the
  exchange will charge. Either way the charge is never above the advertiser's bid.
- We bid in USD only: the notices report the clearing price in the bid's currency and
  delivery.tracking reads it as USD (parse.py does not bid when `cur` excludes USD).
- `nurl`, `burl` and `lurl` are our win, billing and loss notices (delivery.tracking.notice_url).
  The exchange substitutes `${AUCTION_PRICE}` and `${AUCTION_LOSS}` in them; the macros whose values
  we know ourselves (`${AUCTION_ID}`, `${AUCTION_BID_ID}`, `${AUCTION_IMP_ID}`, `${AUCTION_SEAT_ID}`,
  `${AUCTION_AD_ID}`, `${AUCTION_CURRENCY}`) are substituted here, in the notices and in `adm`, with
  their values percent-encoded, which is safe in a URL, HTML, JSON and XML alike.
- A win is left out (and the impression not bid on) when its ad cannot be rendered for the
  impression: required native assets it cannot fill, VAST that does not parse, categories outside
  `acat`, or a bid of zero. With nothing left the answer is 204.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from delivery import taxonomy, tracking
from delivery.openrtb import markup
from delivery.openrtb.parse import BANNER, NATIVE, SEAT, VIDEO, BidRequest
from delivery.request import CreativeInfo, Decision, Win

# OpenRTB 2.6 mtype: the type of the creative in the bid.
MTYPE = {BANNER: 1, VIDEO: 2, NATIVE: 4}


def bid_response(
    request: BidRequest, decision: Decision, creatives: Mapping[int, CreativeInfo], base_url: str
) -> dict[str, Any] | None:
    """The BidResponse for the decision's wins, or None when there is no bid to make (204)."""
    bid_id = uuid.uuid4().hex
    bids = [
        bid
        for win in decision.wins
        if (bid := _bid(request, win, creatives.get(win.creative_id), bid_id, base_url)) is not None
    ]
    if not bids:
        return None
    return {
        "id": request.id,
        "bidid": bid_id,
        "cur": request.currency,
        "seatbid": [{"seat": SEAT, "bid": bids}],
    }


def price_float(micros: int) -> float:
    """Integer micros as the wire format's decimal number (exact to the micro: 1_250_000 -> 1.25)."""
    return float(Decimal(micros).scaleb(-6))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace the macros we know; leave the others (the exchange's) as they are."""
    for macro, value in values.items():
        if macro in text:
            text = text.replace(macro, quote(value, safe=""))
    return text


def _bid(
    request: BidRequest, win: Win, creative: CreativeInfo | None, bid_id: str, base_url: str
) -> dict[str, Any] | None:
    offer = request.offers.get(win.slot_id)
    if offer is None or creative is None or creative.format not in offer.formats:
        return None
    if request.allowed_categories and not (
        creative.categories
        and all(
            taxonomy.is_blocked([category], request.allowed_categories) for category in creative.categories
        )
    ):
        return None
    price = win.bid_cpm_micros
    if price <= 0:
        return None

    user_key = request.ad_request.user_key if request.ad_request else ""
    urls = tracking.tracking_urls(win, base_url, user_key=user_key)
    adm: str | None
    if creative.format == BANNER:
        adm = markup.banner_html(creative, urls, base_url)
    elif creative.format == NATIVE:
        adm = markup.native_json(creative, offer.native, urls, base_url) if offer.native else None
    else:
        adm = markup.vast(creative, urls, offer.vast_version)
    if adm is None:
        return None

    ad_id = str(creative.id)
    macros = {
        "${AUCTION_ID}": request.id,
        "${AUCTION_BID_ID}": bid_id,
        "${AUCTION_IMP_ID}": win.slot_id,
        "${AUCTION_SEAT_ID}": SEAT,
        "${AUCTION_AD_ID}": ad_id,
        "${AUCTION_CURRENCY}": request.currency,
    }
    bid: dict[str, Any] = {
        "id": win.event_id,
        "impid": win.slot_id,
        "price": price_float(price),
        "adid": ad_id,
        "crid": ad_id,
        "cid": str(win.campaign_id),
        "mtype": MTYPE[creative.format],
        "adm": substitute(adm, macros),
        "nurl": substitute(tracking.notice_url(win, "win", base_url, user_key=user_key), macros),
        "burl": substitute(tracking.notice_url(win, "billing", base_url, user_key=user_key), macros),
        "lurl": substitute(tracking.notice_url(win, "loss", base_url, user_key=user_key), macros),
    }
    if creative.advertiser_domains:
        bid["adomain"] = list(creative.advertiser_domains)
    if creative.categories:
        bid["cat"] = list(creative.categories)
        bid["cattax"] = 1  # IAB Content Category Taxonomy 1.0
    if creative.attributes:
        bid["attr"] = list(creative.attributes)
    if creative.format == BANNER:
        if creative.width and creative.height:
            bid["w"], bid["h"] = creative.width, creative.height
        bid["iurl"] = markup.absolute_url(creative.image_url, base_url)
    return bid
