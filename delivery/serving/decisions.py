"""POST /serve/v1/decisions: the JSON decision API, in the manner of Kevel's.

A publisher's page, app or server asks which ads to show in its placements for one person:

    {"placements": [{"key": "daily-ledger-article-mpu", "count": 1}],
     "user": {"key": "u-5f2c"},
     "context": {"country": "US", "region": "US-CO", "language": "en", "device_type": "mobile",
                 "os": "ios", "age": 34, "gender": "female", "interests": ["outdoors"],
                 "keywords": ["hiking boots"], "url": "https://...", "ip": "...", "user_agent": "..."},
     "explain": false}

and gets back each chosen ad with its contents and signed impression and click URLs, or an empty
list. Everything is checked before anything is decided; an error answers 400 with the field path
(`placements[0].count`, `context.age`) and nothing is recorded. `explain` (signed-in staff, or a
member of the advertiser for its own ad groups) adds why each ad group did or did not win.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from accounts.access import advertiser_filter
from accounts.models import Advertiser, ApiKey
from campaigns.targeting import (
    DEVICE_TYPES,
    INTEREST_SEGMENTS,
    MAX_AGE,
    OPERATING_SYSTEMS,
    Gender,
    country_codes,
    language_codes,
)
from delivery import engine
from delivery.request import AdRequest, Context, CreativeInfo, Decision, Slot, Source, Win
from delivery.serving.tracking_views import client_ip
from delivery.tracking import tracking_urls

MAX_BODY_BYTES = 64 * 1024
MAX_PLACEMENTS = 20
MAX_COUNT = 10
MAX_LIST = 100
MAX_TEXT = 2048
TOP_LEVEL = {"placements", "user", "context", "explain", "request_id", "test"}
CONTEXT_FIELDS = {
    "country", "region", "language", "device_type", "os", "age", "gender", "interests", "keywords",
    "url", "ip", "user_agent",
}  # fmt: skip


class BadRequest(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def json_response(data: Any, status: int = 200) -> HttpResponse:
    response = HttpResponse(orjson.dumps(data), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def error_response(field: str, message: str, status: int = 400) -> HttpResponse:
    return json_response({"error": {"field": field, "message": f"{field}: {message}"}}, status)


@csrf_exempt
def decisions(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        response = error_response("method", "Use POST.", 405)
        response["Allow"] = "POST"
        return response
    try:
        body = read_json(request)
        ad_request, keys = parse(body, request)
        viewer = _explain_viewer(request) if ad_request.explain else None
        if ad_request.explain and viewer is None:
            raise BadRequest("explain", "Explanations are for signed-in staff and the advertiser's members.")
    except BadRequest as exc:
        return error_response(exc.field, exc.message)
    decision = engine.decide(ad_request)
    base_url = request.build_absolute_uri("/").rstrip("/")
    # A rebuild between the decision and here may have dropped a creative (paused meanwhile): its ad
    # is not shown, and its decision event, without an impression, bills nothing.
    creatives = engine.snapshot().creatives
    answer: dict[str, Any] = {
        "request_id": ad_request.id,
        "decisions": [
            _decision_json(win, creatives[win.creative_id], keys[win.slot_id], base_url, ad_request.user_key)
            for win in decision.wins
            if win.creative_id in creatives
        ],
    }
    if viewer is not None:
        answer["explanation"] = explanation_json(decision, viewer)
    return json_response(answer)


def read_json(request: HttpRequest) -> Any:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        raise BadRequest("body", f"The body is limited to {MAX_BODY_BYTES // 1024} KB.")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest("body", f"The body is limited to {MAX_BODY_BYTES // 1024} KB.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("body", f"Not valid JSON: {exc}.") from None


def parse(body: Any, http: HttpRequest | None = None) -> tuple[AdRequest, dict[str, str]]:
    """Validate a decision request; returns it and, per slot id, the placement key it answers."""
    obj = _object(body, "body")
    _no_unknown(obj, TOP_LEVEL, "")
    snapshot = engine.snapshot()
    raw_placements = obj.get("placements")
    if not isinstance(raw_placements, list) or not raw_placements:
        raise BadRequest("placements", "A non-empty list of placements is required.")
    if len(raw_placements) > MAX_PLACEMENTS:
        raise BadRequest("placements", f"At most {MAX_PLACEMENTS} placements per request.")
    slots: list[Slot] = []
    keys: dict[str, str] = {}
    for i, raw in enumerate(raw_placements):
        path = f"placements[{i}]"
        item = _object(raw, path)
        _no_unknown(item, {"key", "count"}, path)
        key = _text(item.get("key"), f"{path}.key", required=True, max_length=100)
        placement = snapshot.placements_by_key.get(key)
        if placement is None:
            raise BadRequest(f"{path}.key", f"Unknown placement {key!r}.")
        count = item.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
            raise BadRequest(f"{path}.count", f"A whole number from 1 to {MAX_COUNT}.")
        slot_id = key if key not in keys.values() else f"{key}#{i}"
        keys[slot_id] = key
        slots.append(Slot.for_placement(placement, slot_id=slot_id, count=count))
    user = _object(obj.get("user", {}), "user")
    _no_unknown(user, {"key"}, "user")
    context = _context(_object(obj.get("context", {}), "context"), http)
    user_key = _text(user.get("key"), "user.key", max_length=200) or _anonymous_key(context)
    request_id = _text(obj.get("request_id"), "request_id", max_length=100) or uuid.uuid4().hex
    return (
        AdRequest(
            id=request_id,
            user_key=user_key,
            context=context,
            slots=tuple(slots),
            at=timezone.now(),
            source=Source.DECISIONS,
            test=_bool(obj.get("test", False), "test"),
            explain=_bool(obj.get("explain", False), "explain"),
        ),
        keys,
    )


def _context(obj: dict[str, Any], http: HttpRequest | None) -> Context:
    _no_unknown(obj, CONTEXT_FIELDS, "context")

    def code(name: str, allowed: Any, transform: Any) -> str:
        value = _text(obj.get(name), f"context.{name}", max_length=16)
        if not value:
            return ""
        value = transform(value)
        if value not in allowed:
            raise BadRequest(f"context.{name}", f"{value!r} is not a known value.")
        return str(value)

    age = obj.get("age")
    if age is not None and (not isinstance(age, int) or isinstance(age, bool) or not 0 < age <= MAX_AGE):
        raise BadRequest("context.age", f"A whole number of years from 1 to {MAX_AGE}.")
    region = _text(obj.get("region"), "context.region", max_length=10).upper()
    country = code("country", country_codes(), str.upper)
    if region and (len(region) < 4 or region[2] != "-" or (country and not region.startswith(country))):
        raise BadRequest("context.region", "An ISO 3166-2 code in the request's country, such as US-CA.")
    ip = _text(obj.get("ip"), "context.ip", max_length=45)
    user_agent = _text(obj.get("user_agent"), "context.user_agent", max_length=512)
    if http is not None:
        ip = ip or client_ip(http)
        user_agent = user_agent or http.META.get("HTTP_USER_AGENT", "")[:512]
    return Context(
        country=country,
        region=region,
        language=code("language", language_codes(), str.lower),
        device_type=code("device_type", DEVICE_TYPES, str.lower),
        os=code("os", OPERATING_SYSTEMS, str.lower),
        age=age,
        gender=code("gender", Gender.ALL, str.lower),
        interests=frozenset(_codes(obj.get("interests"), "context.interests", INTEREST_SEGMENTS)),
        keywords=frozenset(_keywords(obj.get("keywords"), "context.keywords")),
        url=_text(obj.get("url"), "context.url", max_length=MAX_TEXT),
        ip=ip,
        user_agent=user_agent,
    )


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(path, "Must be a JSON object.")
    return value


def _no_unknown(obj: dict[str, Any], known: set[str], path: str) -> None:
    unknown = sorted(set(obj) - known)
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise BadRequest(where, f"Unknown field; expected one of: {', '.join(sorted(known))}.")


def _text(value: Any, path: str, *, required: bool = False, max_length: int = MAX_TEXT) -> str:
    if value is None or value == "":
        if required:
            raise BadRequest(path, "This field is required.")
        return ""
    if not isinstance(value, str):
        raise BadRequest(path, "Must be a string.")
    if len(value) > max_length:
        raise BadRequest(path, f"At most {max_length} characters.")
    return value.strip()


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(path, "Must be true or false.")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(path, "Must be a list.")
    if len(value) > MAX_LIST:
        raise BadRequest(path, f"At most {MAX_LIST} items.")
    return value


def _codes(value: Any, path: str, allowed: tuple[str, ...]) -> list[str]:
    out = []
    for i, item in enumerate(_list(value, path)):
        if not isinstance(item, str) or item.strip().lower() not in allowed:
            raise BadRequest(f"{path}[{i}]", f"{item!r} is not a known interest segment.")
        out.append(item.strip().lower())
    return out


def _keywords(value: Any, path: str) -> list[str]:
    out = []
    for i, item in enumerate(_list(value, path)):
        if not isinstance(item, str) or not item.strip() or len(item) > 80:
            raise BadRequest(f"{path}[{i}]", "A keyword is 1 to 80 characters of text.")
        out.append(" ".join(item.split()).lower())
    return out


def _anonymous_key(context: Context) -> str:
    """No user key: the same browser on the same network is the same person, as far as we can tell."""
    return "anon-" + uuid.uuid5(uuid.NAMESPACE_URL, f"{context.ip}|{context.user_agent}").hex


def _decision_json(
    win: Win, creative: CreativeInfo, placement_key: str, base_url: str, user_key: str
) -> dict[str, Any]:
    urls = tracking_urls(win, base_url, user_key=user_key)
    image_url = (
        f"{base_url}{creative.image_url}" if creative.image_url.startswith("/") else creative.image_url
    )
    return {
        "placement": placement_key,
        "event_id": win.event_id,
        "advertiser_id": win.advertiser_id,
        "campaign_id": win.campaign_id,
        "ad_group_id": win.ad_group_id,
        "creative_id": win.creative_id,
        "format": creative.format,
        "width": creative.width,
        "height": creative.height,
        "contents": {
            "image_url": image_url,
            "headline": creative.headline,
            "body": creative.body,
            "call_to_action": creative.call_to_action,
            "advertiser": creative.advertiser_name,
            "vast_url": creative.vast_url,
            "vast_xml": creative.vast_xml,
        },
        "impression_url": urls.impression_url,
        "click_url": urls.click_url,
    }


# ---------------------------------------------------------------------------------------------------
# Explanations


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who asks for an explanation: staff see every ad group; others their advertisers' only."""

    advertiser_ids: frozenset[int] | None  # None: all


def _explain_viewer(request: HttpRequest) -> Viewer | None:
    principal: Any = getattr(request, "user", AnonymousUser())
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Bearer "):
        principal = ApiKey.authenticate(header.removeprefix("Bearer "))
    if principal is None or not principal.is_authenticated:
        return None
    if getattr(principal, "is_staff", False):
        return Viewer(None)
    ids = frozenset(Advertiser.objects.filter(advertiser_filter(principal)).values_list("id", flat=True))
    return Viewer(ids) if ids else None


def explanation_json(decision: Decision, viewer: Viewer) -> list[dict[str, Any]]:
    snap = engine.snapshot()
    advertiser_of = {int(a): int(b) for a, b in zip(snap.ad_group_ids, snap.advertiser_ids, strict=True)}

    def visible(ad_group_id: int) -> bool:
        return viewer.advertiser_ids is None or advertiser_of.get(ad_group_id) in viewer.advertiser_ids

    out = []
    for slot in decision.explanations or []:
        candidates = sorted(slot.candidates, key=lambda c: -c.ecpm_cpm_micros)
        winner = next((c for c in candidates if c.won), None)
        runner_up = next((c for c in candidates if not c.won), None)
        out.append(
            {
                "slot": slot.slot_id,
                "reserve_cpm_micros": slot.reserve_cpm_micros,
                "index_version": decision.index_version,
                "winner": _candidate_json(winner) if winner and visible(winner.ad_group_id) else None,
                "price_cpm_micros": winner.price_cpm_micros if winner else None,
                "runner_up_ecpm_cpm_micros": runner_up.ecpm_cpm_micros if runner_up else None,
                "candidates": [_candidate_json(c) for c in candidates if visible(c.ad_group_id)],
                "filtered": [
                    {"ad_group_id": r.ad_group_id, "reason": r.reason, "detail": r.detail}
                    for r in slot.rejections
                    if visible(r.ad_group_id)
                ],
            }
        )
    return out


def _candidate_json(candidate: Any) -> dict[str, Any]:
    return {
        "ad_group_id": candidate.ad_group_id,
        "creative_id": candidate.creative_id,
        "pctr": round(candidate.pctr, 6),
        "pcvr": round(candidate.pcvr, 6),
        "ecpm_cpm_micros": candidate.ecpm_cpm_micros,
        "won": candidate.won,
        "price_cpm_micros": candidate.price_cpm_micros,
    }
