"""The tracking endpoints: the impression pixel, the click redirect and the exchanges' notices.

Thin: each reads the token from the path and the client from the request, calls delivery.tracking,
and answers. No session, no CSRF, nothing rendered.

- A token that is not ours answers 400 naming `token` (and nothing is recorded).
- An identifiable impression answers the pixel, and a click the redirect to the creative's stored
  landing URL with `awclid=<the click's event id>` added to its query (for conversions to name the
  click), whether or not the event counted: a bot is not told it was recognised, and a person
  whose click was not counted still reaches the advertiser.
- If Redis does not answer, the pixel and the redirect are still served (the event is lost, logged);
  a notice answers 503 so that the exchange can retry.

The client's IP is REMOTE_ADDR, or, behind `TRUSTED_PROXY_COUNT` proxies that each append to
X-Forwarded-For, the address the outermost trusted proxy saw.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import quote, urlsplit, urlunsplit

import orjson
import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from delivery.tracking import (
    TrackingError,
    landing_url,
    read_token,
    record_click,
    record_impression,
    record_notice,
)

log = logging.getLogger(__name__)

# Added to the landing URL of a click: the click's event id, which conversions send back as click_id.
CLICK_ID_PARAMETER = "awclid"

# A transparent 1x1 GIF89a.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@require_GET
def impression(request: HttpRequest, token: str) -> HttpResponse:
    try:
        record_impression(token, ip=client_ip(request), user_agent=_user_agent(request))
    except TrackingError as exc:
        return _bad_request(exc)
    except redis.RedisError:
        log.exception("impression not recorded")
    response = HttpResponse(PIXEL, content_type="image/gif")
    _no_store(response)
    return response


@require_GET
def click(request: HttpRequest, token: str) -> HttpResponse:
    # The target is the creative's stored landing URL; nothing in the query string is ever used.
    try:
        outcome = record_click(token, ip=client_ip(request), user_agent=_user_agent(request))
        target, event_id = outcome.landing_url, outcome.event_id
    except TrackingError as exc:
        return _bad_request(exc)
    except redis.RedisError:
        log.exception("click not recorded")
        try:
            ad, _ = read_token(token, "click")
        except TrackingError as exc:
            return _bad_request(exc)
        target, event_id = landing_url(ad.creative_id), ad.event_id
    if not target:
        response = HttpResponse("This ad is no longer available.", status=404, content_type="text/plain")
    else:
        response = HttpResponseRedirect(with_click_id(target, event_id))
    _no_store(response)
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def notice(request: HttpRequest, notice: str, token: str) -> HttpResponse:
    try:
        record_notice(token, notice, price=request.GET.get("price"), loss_reason=request.GET.get("reason"))
    except TrackingError as exc:
        return _bad_request(exc)
    except redis.RedisError:
        log.exception("%s notice not recorded", notice)
        response = HttpResponse(status=503)
        response["Retry-After"] = "60"
        return response
    response = HttpResponse(status=204)
    _no_store(response)
    return response


def with_click_id(url: str, event_id: str) -> str:
    """The landing URL with `awclid=<event id>` added to its query, for the advertiser to send back
    as the conversion's click_id. The URL's own query is kept as written (a re-encoding could break
    the advertiser's page) and its fragment stays last."""
    parts = urlsplit(url)
    kept = [item for item in parts.query.split("&") if item and item.split("=", 1)[0] != CLICK_ID_PARAMETER]
    query = "&".join([*kept, f"{CLICK_ID_PARAMETER}={quote(event_id, safe='')}"])
    return urlunsplit(parts._replace(query=query))


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For's entry added by the outermost trusted proxy."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote  # not through all of our proxies
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def _user_agent(request: HttpRequest) -> str:
    return str(request.META.get("HTTP_USER_AGENT", ""))


def _no_store(response: HttpResponse) -> None:
    response["Cache-Control"] = "no-store"


def _bad_request(exc: TrackingError) -> HttpResponse:
    # The serving endpoints' error shape (delivery.serving.decisions).
    body = {"error": {"field": exc.field, "message": f"{exc.field}: {exc.message}"}}
    response = HttpResponse(orjson.dumps(body), status=400, content_type="application/json")
    _no_store(response)
    return response
