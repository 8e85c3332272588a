"""POST /openrtb/2.6/bid: an exchange offers impressions; we answer a BidResponse or 204.

- 200 with a BidResponse (application/json) when we bid on at least one impression;
- 204 when we do not bid (nothing matched, or nothing we can sell: see parse.py); the header
  `X-Adwright-No-Bid` says why, for whoever debugs an integration;
- 400 when the request breaks the specification, naming each offending field by its path:
  `{"error": {"field": "imp[0].banner.w", "message": "imp[0].banner.w must be zero or more, not -1."},
  "errors": [...every one, at most 20...]}`; nothing is decided or recorded;
- 413 when the body is over `MAX_BODY_BYTES` (after gzip decompression too), 405 for another method.

Every answer carries `X-OpenRTB-Version: 2.6`. Request bodies may be gzip-compressed
(`Content-Encoding: gzip`), as the specification allows.
"""

from __future__ import annotations

import logging
import re
import zlib
from dataclasses import replace

import orjson
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from delivery import engine
from delivery.openrtb import parse, response
from delivery.openrtb.schema import FieldError

log = logging.getLogger(__name__)

# Real bid requests are 1-10 KB; 64 KB leaves room for long eids and schain lists, and bounds what one
# caller can make us parse.
MAX_BODY_BYTES = 64 * 1024
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@csrf_exempt
def bid(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        refused = _errors([FieldError("method", "method: use POST.")], 405)
        refused["Allow"] = "POST"
        return refused
    try:
        body = read_body(request)
    except BodyError as exc:
        return _errors([FieldError("body", f"body: {exc.message}")], exc.status)
    snapshot = engine.snapshot()
    try:
        bid_request = parse.parse(
            body, placements=snapshot.placements_by_key, now=timezone.now(), https=request.is_secure()
        )
    except parse.InvalidBidRequest as exc:
        return _errors(exc.errors, 400)
    if bid_request.ad_request is None:
        return _no_bid(bid_request.no_bid_reason)
    # Recorded below, once we know which wins became bids: a win that cannot be rendered for its
    # impression (acat, a native asset too small, a broken VAST) must leave no decision event.
    [decision] = engine.decide_batch([bid_request.ad_request], record=False)
    base_url = request.build_absolute_uri("/").rstrip("/")
    creatives = engine.snapshot().creatives  # the snapshot the engine decided with, or a newer one
    bid_response = response.bid_response(bid_request, decision, creatives, base_url)
    if bid_response is None:
        why = "no winning ad could be rendered for its impression" if decision.wins else "no ad won"
        return _no_bid(why)
    bid_ids = {bid["id"] for seat in bid_response["seatbid"] for bid in seat["bid"]}
    engine.record_wins([replace(decision, wins=[win for win in decision.wins if win.event_id in bid_ids])])
    return _answer(HttpResponse(orjson.dumps(bid_response), content_type="application/json"))


def read_body(request: HttpRequest) -> bytes:
    """The request body, at most MAX_BODY_BYTES (decompressed); raises BodyError."""
    too_big = f"the bid request is limited to {MAX_BODY_BYTES // 1024} KB."
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit():
        raise BodyError(400, "Content-Length is not a number.")
    if int(length) > MAX_BODY_BYTES:
        raise BodyError(413, too_big)
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise BodyError(413, too_big)
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, MAX_BODY_BYTES + 1)
        except zlib.error:
            raise BodyError(400, "Content-Encoding is gzip but the body is not gzip data.") from None
        if len(body) > MAX_BODY_BYTES or inflater.unconsumed_tail:
            raise BodyError(413, too_big)
    elif encoding not in ("", "identity"):
        raise BodyError(415, f"Content-Encoding {encoding[:20]!r} is not supported; send gzip or none.")
    return body


def _answer(http: HttpResponse) -> HttpResponse:
    http["X-OpenRTB-Version"] = "2.6"
    http["Cache-Control"] = "no-store"
    return http


def _errors(errors: list[FieldError], status: int) -> HttpResponse:
    payload = {"error": errors[0].as_json(), "errors": [error.as_json() for error in errors]}
    return _answer(HttpResponse(orjson.dumps(payload), status=status, content_type="application/json"))


def _no_bid(reason: str) -> HttpResponse:
    log.debug("no bid: %s", reason)
    http = _answer(HttpResponse(status=204))
    # The reason may quote ids from the request: printable ASCII only, so that it is a safe header.
    http["X-Adwright-No-Bid"] = _UNPRINTABLE.sub("?", reason)[:300]
    return http
