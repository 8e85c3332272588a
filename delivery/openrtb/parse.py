"""An OpenRTB 2.6 bid request: validated, then translated into our `AdRequest`.

`parse(body, placements=..., now=..., https=...)` either raises `InvalidBidRequest` with every
offending field by its path (the view answers 400), or returns a `BidRequest`: the `AdRequest` to
decide, what each impression accepts (to render the answer), and when there is nothing to bid on,
why (the view answers 204 without deciding anything).

Validation has two passes. The first checks the type of every known field (delivery.openrtb.schema:
unknown fields and `ext` contents are ignored, as the specification requires). The second checks
the rules across fields, in the order Prebid Server reports them:

- `id` and at least one `imp`; `tmax` >= 0 (first pass);
- exactly one of `site`, `app` and `dooh`. The specification forbids more than one; none at all is
  also refused, because without the distribution channel we can apply neither the publisher's
  brand safety nor its blocks, and exchanges (Prebid Server among them) refuse it too. A `site`
  needs an `id` or a `page`, a `dooh` an `id` or a `venuetype`: an empty object identifies nothing;
- imp ids unique; each imp offers at least one of banner, video, audio and native;
- a banner has sizes (`w` and `h`, or `format` entries), unless it is an interstitial (`instl`),
  which fills the screen; each `format` is either a fixed size or a flexible ratio, not a mix;
- a native `request` is JSON of an OpenRTB Native 1.0-1.2 request (1.0's `{"native": ...}`
  wrapper accepted) whose assets each ask for exactly one of title, image, video and data;
- `at` is 1 (first price), 2 (second price) or exchange-specific (500+): it sets what we pay, so
  an undefined value is refused; currencies are three-letter ISO 4217 codes.

Other enumerated values (AdCOM lists, Native context and placement types, tracker methods) are not
range-checked: the lists grow between versions, and a value we do not know is one we do not use
(a required native data asset of an unknown type, for example, is one we cannot fill).

What we do not sell is not an error but a reason not to bid on an impression: audio; a private
auction (we hold no deals); a floor in a currency we have no rate for; `secure` markup when this
server is not reached over HTTPS; a native request whose required assets our creatives cannot fill.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

import orjson
import pycountry

from accounts.money import MAX_MICROS
from campaigns.creative_specs import IAB_BANNER_SIZES
from campaigns.models import Creative
from campaigns.targeting import MAX_AGE, MAX_KEYWORD_LENGTH, MIN_AGE, Gender, language_codes
from delivery import fx, taxonomy
from delivery.openrtb.schema import FieldError, check
from delivery.request import AdRequest, Context, PlacementInfo, Slot, Source

SEAT = "adwright"
# Below this tmax we cannot decide and answer in time (the decision itself takes a few milliseconds,
# the network the rest): answering late is worse than not answering, so we do not bid.
MIN_TMAX_MS = 10
MAX_REQUEST_KEYWORDS = 100
MAX_USER_KEY_LENGTH = 200
MAX_ERRORS = 20

BANNER, NATIVE, VIDEO = (
    Creative.Format.BANNER.value,
    Creative.Format.NATIVE.value,
    Creative.Format.VIDEO.value,
)
# AdCOM 1.0 Device Types -> campaigns.targeting.DEVICE_TYPES (6 "connected device" and 8 "out-of-home"
# have no counterpart, so they stay unknown).
DEVICE_TYPES = {1: "mobile", 2: "desktop", 3: "ctv", 4: "mobile", 5: "tablet", 7: "ctv"}
GENDERS = {"M": Gender.MALE, "F": Gender.FEMALE, "O": Gender.UNKNOWN}
# AdCOM 1.0 Creative Subtypes (video protocols) -> the VAST version our wrapper declares.
VAST_VERSIONS = (
    (frozenset({7, 8, 11, 12, 13, 14}), "4.0"),
    (frozenset({3, 6}), "3.0"),
    (frozenset({2, 5}), "2.0"),
)
# Native 1.2 data asset types our creatives fill: 1 sponsored by, 2 description, 11 display URL, 12 CTA.
NATIVE_DATA_TYPES = frozenset({1, 2, 11, 12})
NATIVE_MAIN_IMAGE = 3
CURRENCY = re.compile(r"[A-Za-z]{3}")


class InvalidBidRequest(Exception):
    """The request breaks the specification: a 400 naming each offending field, nothing recorded."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors[0].message if errors else "invalid bid request")
        self.errors = errors[:MAX_ERRORS]


@dataclass(frozen=True, slots=True)
class NativeAsset:
    id: int
    required: bool
    kind: str  # title, img, video or data
    type: int = 0  # image type (1 icon, 3 main) or data type; 0 when not given
    length: int = 0  # the longest text a title or data asset may have; 0 when not given
    min_width: int = 0
    min_height: int = 0


@dataclass(frozen=True, slots=True)
class NativeSpec:
    """The parts of a Native request the answer needs."""

    assets: tuple[NativeAsset, ...]
    wrapped: bool  # sent as Native 1.0's {"native": {...}}: answer in the same wrapper
    image_trackers: bool  # eventtrackers lists impression (1) by image pixel (1): answer with one


@dataclass(frozen=True, slots=True)
class Offer:
    """What one impression accepts, kept to render the bid for it."""

    imp_id: str
    formats: frozenset[str]
    native: NativeSpec | None = None
    vast_version: str = "4.0"


@dataclass(frozen=True, slots=True)
class BidRequest:
    id: str
    ad_request: AdRequest | None  # None when there is nothing to bid on (see no_bid_reason)
    offers: dict[str, Offer] = field(default_factory=dict)  # by imp id, for the impressions we bid on
    currency: str = "USD"  # the currency of our bids (USD only; see translate)
    allowed_categories: frozenset[str] = frozenset()  # `acat`: our ad's categories must be among them
    no_bid_reason: str = ""


# ---------------------------------------------------------------------------------------------------
# Entry points


def parse(
    body: bytes,
    *,
    placements: Mapping[str, PlacementInfo],
    now: datetime,
    https: bool,
) -> BidRequest:
    """Validate `body` and translate it. `placements` are the known ones by key (imp.tagid)."""
    return translate(validate(decode(body)), placements=placements, now=now, https=https)


def decode(body: bytes) -> Any:
    if not body.strip():
        raise InvalidBidRequest([FieldError("body", "body: the bid request is empty; send a JSON object.")])
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidBidRequest([_not_json("body", exc)]) from None


def _not_json(path: str, exc: orjson.JSONDecodeError) -> FieldError:
    return FieldError(path, f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.")


def validate(data: Any) -> dict[str, Any]:
    """The request's known, well-typed fields; raises InvalidBidRequest naming every offending one."""
    if data is None:
        data = {}  # `null` is a request without any field, as Go decoders read it: "id" is missing
    errors: list[FieldError] = []
    request = check(data, "BidRequest", "", errors)
    if request is None:
        kind = {list: "an array", str: "a string", bool: "a boolean"}.get(type(data), "a number")
        raise InvalidBidRequest([FieldError("body", f"body: a bid request is a JSON object, not {kind}.")])
    _check_rules(request, errors)
    if errors:
        raise InvalidBidRequest(errors)
    return request


# ---------------------------------------------------------------------------------------------------
# Rules across fields


def _check_rules(request: dict[str, Any], errors: list[FieldError]) -> None:
    def error(path: str, message: str) -> None:
        errors.append(FieldError(path, message if message.startswith(path) else f"{path}: {message}"))

    channels = [name for name in ("site", "app", "dooh") if name in request]
    if not channels:
        error("site", "one of site, app or dooh is required, to say where the ad would be shown.")
    elif len(channels) > 1:
        error(channels[0], f"only one of site, app and dooh may be present, not {' and '.join(channels)}.")
    site, dooh = request.get("site"), request.get("dooh")
    if site is not None and not site.get("id") and not site.get("page"):
        error("site", "site must have an id or a page (site.id, site.page).")
    if dooh is not None and not dooh.get("id") and not dooh.get("venuetype"):
        error("dooh", "dooh must have an id or a venuetype (dooh.id, dooh.venuetype).")

    first_index: dict[str, int] = {}
    for i, imp in enumerate(request.get("imp", [])):
        path = f"imp[{i}]"
        imp_id = imp.get("id")
        if imp_id is not None:
            if imp_id in first_index:
                error(
                    f"{path}.id",
                    f"imp[{first_index[imp_id]}] has the same id {imp_id!r}; imp ids are unique.",
                )
            first_index.setdefault(imp_id, i)
        if not any(kind in imp for kind in ("banner", "video", "audio", "native")):
            error(path, f"{path} must offer at least one of banner, video, audio or native.")
        if "banner" in imp:
            _check_banner(imp["banner"], imp.get("instl") == 1, f"{path}.banner", error)
        if "request" in imp.get("native", {}):
            native = _native_request(imp["native"]["request"], f"{path}.native.request", errors)
            if native is not None:
                imp["native"]["request"] = native  # the decoded object, for translate()
        for where, holder in ((path, imp), *((f"{path}.pmp.deals[{k}]", d) for k, d in _deals(imp))):
            currency = holder.get("bidfloorcur")
            if currency is not None and not CURRENCY.fullmatch(currency):
                error(f"{where}.bidfloorcur", f"{currency!r} is not an ISO 4217 currency code.")

    auction_type = request.get("at")
    if auction_type is not None and auction_type not in (1, 2) and auction_type < 500:
        error(
            "at", f"at is 1 (first price), 2 (second price) or 500+ (exchange-specific), not {auction_type}."
        )
    for k, currency in enumerate(request.get("cur", [])):
        if not CURRENCY.fullmatch(currency):
            error(f"cur[{k}]", f"{currency!r} is not an ISO 4217 currency code.")


def _deals(imp: dict[str, Any]) -> Iterable[tuple[int, dict[str, Any]]]:
    return enumerate(imp.get("pmp", {}).get("deals", []))


def _check_banner(
    banner: dict[str, Any], interstitial: bool, path: str, error: Callable[[str, str], None]
) -> None:
    formats = banner.get("format", [])
    if not (banner.get("w", 0) > 0 and banner.get("h", 0) > 0) and not formats and not interstitial:
        error(path, f'{path} has no sizes: give "w" and "h", or "format" entries.')
    for j, fmt in enumerate(formats):
        where = f"{path}.format[{j}]"
        fixed = bool(fmt.get("w") or fmt.get("h"))
        flexible = bool(fmt.get("wmin") or fmt.get("wratio") or fmt.get("hratio"))
        if fixed and flexible:
            error(
                where, f"{where} gives either a size {{w, h}} or a ratio {{wmin, wratio, hratio}}, not both."
            )
        elif not fixed and not flexible:
            error(where, f"{where} needs a size {{w, h}} or a ratio {{wmin, wratio, hratio}}.")
        elif fixed and not (fmt.get("w") and fmt.get("h")):
            error(where, f"{where} needs both w and h above zero.")
        elif flexible and not (fmt.get("wmin") and fmt.get("wratio") and fmt.get("hratio")):
            error(where, f"{where} needs wmin, wratio and hratio all above zero.")


def _native_request(raw: Any, path: str, errors: list[FieldError]) -> dict[str, Any] | None:
    """The Native request, decoded and checked; None (with errors) when it is not one."""
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            errors.append(_not_json(path, exc))
            return None
    wrapped = isinstance(raw, dict) and set(raw) == {"native"} and isinstance(raw["native"], dict)
    if wrapped:
        raw = raw["native"]
    before = len(errors)
    native = check(raw, "NativeRequest", path, errors)
    if native is None:
        return None

    def error(where: str, message: str) -> None:
        errors.append(FieldError(where, message if message.startswith(where) else f"{where}: {message}"))

    assets = native.get("assets", [])
    numbered = any("id" in asset for asset in assets)
    seen: set[int] = set()
    for k, asset in enumerate(assets):
        where = f"{path}.assets[{k}]"
        kinds = [kind for kind in ("title", "img", "video", "data") if kind in asset]
        if len(kinds) != 1:
            error(where, f"{where} asks for exactly one of title, img, video or data.")
        if numbered:
            if "id" not in asset:
                error(f"{where}.id", f"{where}.id is required when other assets have ids.")
            elif asset["id"] in seen:
                error(f"{where}.id", f"asset id {asset['id']} is used twice; asset ids are unique.")
            seen.add(asset.get("id", -1))
    if len(errors) > before:
        return None
    if not numbered:  # Native 1.2 requires ids; 1.0 requests often have none: number them in order
        for k, asset in enumerate(assets):
            asset["id"] = k
    native["_wrapped"] = wrapped
    return native


# ---------------------------------------------------------------------------------------------------
# Translation into our request


def translate(
    request: dict[str, Any], *, placements: Mapping[str, PlacementInfo], now: datetime, https: bool
) -> BidRequest:
    """A validated request as our `AdRequest`, or the reason there is nothing to bid on."""
    request_id = request["id"]

    def no_bid(reason: str) -> BidRequest:
        return BidRequest(id=request_id, ad_request=None, no_bid_reason=reason)

    tmax = request.get("tmax", 0)  # 0 is "not given", as Go decoders read an absent tmax
    if 0 < tmax < MIN_TMAX_MS:
        return no_bid(f"tmax {tmax} ms is below the {MIN_TMAX_MS} ms we need to decide")
    if SEAT in request.get("bseat", []) or (request.get("wseat") and SEAT not in request["wseat"]):
        return no_bid("our seat is not allowed to bid (wseat/bseat)")
    allowed_currencies = [code.upper() for code in request.get("cur", [])]
    if allowed_currencies and "USD" not in allowed_currencies:
        # We bid in USD only: the clearing price comes back in the bid's currency on the notices,
        # and delivery.tracking bills it as USD.
        return no_bid("cur does not allow USD, the only currency we bid in")
    category_taxonomy = request.get("cattax", 1)
    if request.get("bcat") and category_taxonomy != 1:
        # Our creatives are categorised in IAB Content Taxonomy 1.0 only: a block list in another
        # taxonomy cannot be honoured, and an ad the publisher blocks must never be shown.
        return no_bid(f"bcat is in category taxonomy {category_taxonomy}; we honour taxonomy 1 only")

    channel = request.get("site") or request.get("app") or request.get("dooh") or {}
    device = request.get("device", {})
    slots: list[Slot] = []
    offers: dict[str, Offer] = {}
    blocked_attributes: set[int] = set()
    skipped: list[str] = []
    for imp in request["imp"]:
        slot, offer, why_not = _slot(imp, device, placements, https)
        if slot is None or offer is None:
            skipped.append(f"imp {imp['id']}: {why_not}")
            continue
        slots.append(slot)
        offers[offer.imp_id] = offer
        for kind in ("banner", "video", "audio", "native"):
            blocked_attributes.update(imp.get(kind, {}).get("battr", []))
    if not slots:
        return no_bid("; ".join(skipped))

    context = _context(request, channel, device, now)
    ad_request = AdRequest(
        id=request_id,
        user_key=_user_key(request.get("user", {}), device, context),
        context=context,
        slots=tuple(slots),
        at=now,
        source=Source.OPENRTB,
        first_price=request.get("at", 2) == 1,
        blocked_categories=frozenset(request.get("bcat", [])),
        blocked_domains=frozenset(filter(None, (_domain(d) for d in request.get("badv", [])))),
        # One set for the whole request: the union of every impression's battr. An attribute one
        # slot blocks is then avoided in all of them, which is stricter than needed, never looser.
        blocked_attributes=frozenset(blocked_attributes),
        test=request.get("test", 0) == 1,
    )
    acat = request.get("acat", []) if category_taxonomy == 1 else []
    return BidRequest(
        id=request_id,
        ad_request=ad_request,
        offers=offers,
        allowed_categories=frozenset(acat),
    )


def _slot(
    imp: dict[str, Any], device: dict[str, Any], placements: Mapping[str, PlacementInfo], https: bool
) -> tuple[Slot | None, Offer | None, str]:
    """The slot for one impression, or why we do not bid on it."""
    if imp.get("pmp", {}).get("private_auction") == 1:
        return None, None, "a private auction, and we hold no deals"
    if imp.get("secure") == 1 and not https:
        return None, None, "secure markup required, and this server is not reached over HTTPS"
    floor = floor_usd_micros(imp.get("bidfloor", 0), imp.get("bidfloorcur") or "USD")
    if floor is None:
        return None, None, f"no exchange rate for the floor's currency {imp.get('bidfloorcur')}"
    if floor > MAX_MICROS:
        return None, None, "a floor above any bid we could make"

    formats: set[str] = set()
    sizes: frozenset[tuple[int, int]] = frozenset()
    native: NativeSpec | None = None
    if "banner" in imp:
        banner_sizes = _banner_sizes(imp["banner"], imp.get("instl") == 1, device)
        if banner_sizes is None or banner_sizes:
            formats.add(BANNER)
            sizes = banner_sizes or frozenset()
    if "native" in imp:
        native = native_spec(imp["native"]["request"])
        if native is not None:
            formats.add(NATIVE)
    if "video" in imp:
        formats.add(VIDEO)
    if not formats:
        return None, None, "no format we sell (audio, or sizes and native assets our creatives cannot fill)"

    placement = placements.get(imp.get("tagid", ""))
    slot = Slot(
        id=imp["id"],
        placement_id=placement.id if placement else None,
        formats=frozenset(formats),
        sizes=sizes,
        floor_cpm_micros=max(floor, placement.floor_cpm_micros if placement else 0),
        count=1,
        publisher_id=placement.publisher_id if placement else None,
    )
    protocols = set(imp.get("video", {}).get("protocols", []))
    vast_version = next((v for family, v in VAST_VERSIONS if protocols & family), "4.0")
    return slot, Offer(imp["id"], slot.formats, native, vast_version), ""


def floor_usd_micros(bidfloor: float, currency: str) -> int | None:
    """A bid floor (CPM in `currency`, a JSON number) as USD micros CPM, rounded up so that we
    never bid under it; None when we have no rate for the currency."""
    rate = fx.rates().get(currency.upper())
    if rate is None:
        return None
    micros = Fraction(Decimal(repr(float(bidfloor)))) * 1_000_000
    return math.ceil(micros * rate)


def _banner_sizes(
    banner: dict[str, Any], interstitial: bool, device: dict[str, Any]
) -> frozenset[tuple[int, int]] | None:
    """Sizes a banner accepts: w x h, the fixed formats, and the IAB sizes that fit a flexible one.

    An interstitial without sizes takes the IAB sizes that fit the screen (in device-independent
    pixels), or any size (None) when the screen is not known.
    """
    sizes: set[tuple[int, int]] = set()
    if banner.get("w", 0) > 0 and banner.get("h", 0) > 0:
        sizes.add((banner["w"], banner["h"]))
    for fmt in banner.get("format", []):
        if fmt.get("w") and fmt.get("h"):
            sizes.add((fmt["w"], fmt["h"]))
        elif fmt.get("wratio") and fmt.get("hratio"):
            sizes.update(
                (w, h)
                for w, h in IAB_BANNER_SIZES
                if w * fmt["hratio"] == h * fmt["wratio"] and w >= fmt.get("wmin", 0)
            )
    if interstitial and not sizes and not banner.get("format"):
        ratio = device.get("pxratio") or 1
        width, height = device.get("w", 0) / ratio, device.get("h", 0) / ratio
        if not (width and height):
            return None
        sizes.update((w, h) for w, h in IAB_BANNER_SIZES if w <= width and h <= height)
    return frozenset(sizes)


def native_spec(native: dict[str, Any]) -> NativeSpec | None:
    """The assets of a checked Native request, or None when a required one is beyond our creatives:
    a video, an icon, or a kind of data (ratings, prices...) that they do not carry."""
    assets = []
    for asset in native.get("assets", []):
        required = asset.get("required") == 1
        if "title" in asset:
            item = NativeAsset(asset["id"], required, "title", length=asset["title"]["len"])
        elif "img" in asset:
            img = asset["img"]
            item = NativeAsset(
                asset["id"],
                required,
                "img",
                type=img.get("type", NATIVE_MAIN_IMAGE),
                min_width=img.get("wmin") or img.get("w", 0),
                min_height=img.get("hmin") or img.get("h", 0),
            )
            if item.type != NATIVE_MAIN_IMAGE and required:
                return None
        elif "data" in asset:
            item = NativeAsset(
                asset["id"], required, "data", type=asset["data"]["type"], length=asset["data"].get("len", 0)
            )
            if item.type not in NATIVE_DATA_TYPES and required:
                return None
        else:  # video
            if required:
                return None
            continue
        assets.append(item)
    trackers = native.get("eventtrackers", [])
    return NativeSpec(
        assets=tuple(assets),
        wrapped=bool(native.get("_wrapped")),
        image_trackers=any(t.get("event") == 1 and 1 in t.get("methods", []) for t in trackers),
    )


# ---------------------------------------------------------------------------------------------------
# Who and where


def _context(
    request: dict[str, Any], channel: dict[str, Any], device: dict[str, Any], now: datetime
) -> Context:
    user = request.get("user", {})
    device_geo, user_geo = device.get("geo", {}), user.get("geo", {})
    country = country_alpha2(device_geo.get("country") or user_geo.get("country") or "")
    content = channel.get("content", {})
    categories: list[str] = []
    if channel.get("cattax", 1) == 1:
        for name in ("cat", "sectioncat", "pagecat"):
            categories.extend(channel.get(name, []))
    if content.get("cattax", 1) == 1:
        categories.extend(content.get("cat", []))
    yob = user.get("yob")
    age = now.year - yob if yob else None
    return Context(
        country=country,
        region=region_code(device_geo.get("region") or user_geo.get("region") or "", country),
        language=_language(device),
        device_type=DEVICE_TYPES.get(device.get("devicetype", 0), "")
        or ("mobile" if device.get("sua", {}).get("mobile") == 1 else ""),
        os=operating_system(device.get("os") or device.get("sua", {}).get("platform", {}).get("brand", "")),
        age=age if age is not None and MIN_AGE <= age <= MAX_AGE else None,
        gender=GENDERS.get(user.get("gender", "").upper(), ""),
        interests=taxonomy.segments_of(categories),
        keywords=_keywords(user, channel, content),
        url=request.get("site", {}).get("page", ""),
        ip=device.get("ip") or device.get("ipv6") or "",
        user_agent=device.get("ua", ""),
    )


@lru_cache(maxsize=1024)
def country_alpha2(code: str) -> str:
    """OpenRTB's ISO 3166-1 alpha-3 country (alpha-2 accepted too, as some exchanges send) as alpha-2."""
    code = code.strip().upper()
    if len(code) == 3:
        country = pycountry.countries.get(alpha_3=code)
    elif len(code) == 2:
        country = pycountry.countries.get(alpha_2=code)
    else:
        return ""
    return country.alpha_2 if country is not None else ""


@lru_cache(maxsize=4096)
def region_code(region: str, country: str) -> str:
    """geo.region as ISO 3166-2 ("US-CA"): OpenRTB sends the subdivision part ("CA") or the full code."""
    region = region.strip().upper()
    if not region:
        return ""
    code = region if "-" in region else f"{country}-{region}"
    if country and not code.startswith(f"{country}-"):
        return ""
    return code if pycountry.subdivisions.get(code=code) is not None else ""


def operating_system(name: str) -> str:
    """device.os (free text: "iOS", "Android", "OS X", "Windows 10"...) as campaigns.targeting's OS."""
    key = re.sub(r"[^a-z]", "", name.lower())
    if not key:
        return ""
    if key in ("ios", "iphoneos", "ipados"):
        return "ios"
    if key.startswith("android"):
        return "android"
    if key.startswith("windows"):
        return "windows"
    if key in ("macos", "macosx", "osx", "mac"):
        return "macos"
    if key in ("chromeos", "cros", "chromiumos"):
        return "chromeos"
    if key in ("linux", "ubuntu", "debian", "fedora"):
        return "linux"
    return "other"


def _language(device: dict[str, Any]) -> str:
    for raw in (device.get("language", ""), device.get("langb", "")):
        code = re.split(r"[-_]", raw.strip().lower(), maxsplit=1)[0]
        if code in language_codes():
            return code
    return ""


def _keywords(*sources: dict[str, Any]) -> frozenset[str]:
    """keywords (comma-separated) and kwarray of the user, the site/app/dooh and its content."""
    out: list[str] = []
    for source in sources:
        for raw in [*source.get("keywords", "").split(","), *source.get("kwarray", [])]:
            keyword = " ".join(raw.split()).lower()
            if keyword and len(keyword) <= MAX_KEYWORD_LENGTH and keyword not in out:
                out.append(keyword)
    return frozenset(out[:MAX_REQUEST_KEYWORDS])


def _user_key(user: dict[str, Any], device: dict[str, Any], context: Context) -> str:
    """Who this is, for frequency caps: our own id for the user as the exchange maps it (buyeruid)
    first, then the device's advertising id, then the exchange's user id; else, like the decision
    API, the same browser on the same network."""
    ifa = device.get("ifa", "")
    if user.get("buyeruid"):
        key = user["buyeruid"]
    elif ifa and set(ifa) - set("0-"):  # all zeros: tracking limited, no id
        key = f"ifa:{ifa.lower()}"
    elif user.get("id"):
        key = f"ortb:{user['id']}"
    else:
        key = "anon-" + uuid.uuid5(uuid.NAMESPACE_URL, f"{context.ip}|{context.user_agent}").hex
    return key[:MAX_USER_KEY_LENGTH]


def _domain(raw: str) -> str:
    """A badv entry as the bare domain advertisers are stored with ("https://www.Ford.com/" -> "ford.com")."""
    domain = raw.strip().lower().split("://", 1)[-1].split("/", 1)[0]
    return domain.removeprefix("www.")
