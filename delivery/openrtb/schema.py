"""The field types of an OpenRTB 2.6 bid request and a Native 1.2 request, and the check against them.

The tables follow the specification's objects (OpenRTB 2.6 section 3.2, AdCOM 1.0 for the lists,
OpenRTB Native 1.2 section 4). `check` walks a decoded JSON object along them and:

- reports every known field whose value has the wrong type, or breaks a bound the specification or
  common sense sets, by its path as exchanges write it (`imp[0].banner.w`, `device.geo.accuracy`);
- ignores unknown fields and the content of `ext` objects: the specification allows extensions
  everywhere, so a field we do not know is never an error (the type of `ext` itself is checked);
- treats JSON `null` as an absent field, as the reference implementations in Go do;
- returns the object with only its known, well-typed fields (integers as `int`), so that the rules
  across fields (delivery.openrtb.parse) and the mapping to our request read plain values.

Bounds beyond the specification's types, and why:

- Sizes (`w`, `h` of banners, formats, video players, screens and native images) are at most
  `MAX_PIXELS`. The widest DOOH video walls are 16K (15,360 px); a larger size is not a screen but
  a mistake, and an integer near 2**63 would only overflow whatever multiplies it later.
- Counts, sizes, bit rates and accuracies are never negative (Prebid Server checks the same ones).
- `imp` has at most `MAX_IMPS` entries: a page or app offers a handful; more is abuse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_PIXELS = 16_384
MAX_IMPS = 100
MAX_NATIVE_ASSETS = 50


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending field: its path in the request and a message that names it too."""

    field: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class Field:
    kind: str  # str, int, num, flag, obj, strs, ints, objs, ext, json
    ref: str = ""  # the object's schema, for obj and objs
    required: bool = False
    nonempty: bool = False  # a string that may not be ""
    minimum: float | None = None
    maximum: float | None = None
    min_items: int = 0
    max_items: int | None = None


def _s(*, required: bool = False) -> Field:
    """A string; a required one may not be empty either (an empty id identifies nothing)."""
    return Field("str", required=required, nonempty=required)


def _i(*, required: bool = False, minimum: int | None = None, maximum: int | None = None) -> Field:
    return Field("int", required=required, minimum=minimum, maximum=maximum)


def _n(*, required: bool = False, minimum: float | None = None) -> Field:
    return Field("num", required=required, minimum=minimum)


def _o(ref: str, *, required: bool = False) -> Field:
    return Field("obj", ref=ref, required=required)


def _objs(ref: str, *, required: bool = False, min_items: int = 0, max_items: int | None = None) -> Field:
    return Field("objs", ref=ref, required=required, min_items=min_items, max_items=max_items)


def _strs(*, required: bool = False, min_items: int = 0) -> Field:
    return Field("strs", required=required, min_items=min_items)


def _ints(*, required: bool = False, min_items: int = 0) -> Field:
    return Field("ints", required=required, min_items=min_items)


FLAG = Field("flag")  # an integer 0 or 1
EXT = Field("ext")
STR, INT, NUM, STRS, INTS = _s(), _i(), _n(), _strs(), _ints()
PIXELS = _i(minimum=0, maximum=MAX_PIXELS)
COUNT = _i(minimum=0)

_BANNER = {
    "format": _objs("Format"),
    "w": PIXELS,
    "h": PIXELS,
    "btype": INTS,
    "battr": INTS,
    "pos": INT,
    "mimes": STRS,
    "topframe": FLAG,
    "expdir": INTS,
    "api": INTS,
    "id": STR,
    "vcm": FLAG,
    "ext": EXT,
}

OBJECTS: dict[str, dict[str, Field]] = {
    # The order of the first fields is the order errors are reported in (as Prebid Server does).
    "BidRequest": {
        "id": _s(required=True),
        "tmax": COUNT,
        "imp": _objs("Imp", required=True, min_items=1, max_items=MAX_IMPS),
        "site": _o("Site"),
        "app": _o("App"),
        "dooh": _o("DOOH"),
        "user": _o("User"),
        "regs": _o("Regs"),
        "device": _o("Device"),
        "source": _o("Source"),
        "test": FLAG,
        "at": INT,
        "wseat": STRS,
        "bseat": STRS,
        "allimps": FLAG,
        "cur": STRS,
        "wlang": STRS,
        "wlangb": STRS,
        "acat": STRS,
        "bcat": STRS,
        "cattax": INT,
        "badv": STRS,
        "bapp": STRS,
        "ext": EXT,
    },
    "Imp": {
        "id": _s(required=True),
        "metric": _objs("Metric"),
        "banner": _o("Banner"),
        "video": _o("Video"),
        "audio": _o("Audio"),
        "native": _o("Native"),
        "pmp": _o("Pmp"),
        "displaymanager": STR,
        "displaymanagerver": STR,
        "instl": FLAG,
        "tagid": STR,
        "bidfloor": _n(minimum=0),
        "bidfloorcur": STR,
        "clickbrowser": FLAG,
        "secure": FLAG,
        "iframebuster": STRS,
        "rwdd": FLAG,
        "ssai": INT,
        "exp": INT,
        "qty": _o("Qty"),
        "dt": NUM,
        "refresh": _o("Refresh"),
        "ext": EXT,
    },
    "Metric": {"type": _s(required=True), "value": _n(required=True), "vendor": STR, "ext": EXT},
    "Banner": _BANNER,
    "Format": {
        "w": PIXELS,
        "h": PIXELS,
        "wratio": COUNT,
        "hratio": COUNT,
        "wmin": PIXELS,
        "ext": EXT,
    },
    "Video": {
        "mimes": _strs(required=True, min_items=1),
        "minduration": INT,
        "maxduration": INT,
        "startdelay": INT,
        "maxseq": INT,
        "poddur": INT,
        "protocols": INTS,
        "w": PIXELS,
        "h": PIXELS,
        "podid": STR,
        "podseq": INT,
        "rqddurs": INTS,
        "plcmt": INT,
        "linearity": INT,
        "skip": FLAG,
        "skipmin": INT,
        "skipafter": INT,
        "slotinpod": INT,
        "mincpmpersec": NUM,
        "battr": INTS,
        "maxextended": INT,
        "minbitrate": COUNT,
        "maxbitrate": COUNT,
        "boxingallowed": FLAG,
        "playbackmethod": INTS,
        "playbackend": INT,
        "delivery": INTS,
        "pos": INT,
        "companionad": _objs("Banner"),
        "api": INTS,
        "companiontype": INTS,
        "poddedupe": INTS,
        "durfloors": _objs("DurFloors"),
        "placement": INT,
        "sequence": INT,
        "ext": EXT,
    },
    "Audio": {
        "mimes": _strs(required=True, min_items=1),
        "minduration": INT,
        "maxduration": INT,
        "poddur": INT,
        "protocols": INTS,
        "startdelay": INT,
        "rqddurs": INTS,
        "podid": STR,
        "podseq": INT,
        "slotinpod": INT,
        "mincpmpersec": NUM,
        "battr": INTS,
        "maxextended": INT,
        "minbitrate": COUNT,
        "maxbitrate": COUNT,
        "delivery": INTS,
        "companionad": _objs("Banner"),
        "api": INTS,
        "companiontype": INTS,
        "maxseq": COUNT,
        "feed": INT,
        "stitched": FLAG,
        "nvol": INT,
        "durfloors": _objs("DurFloors"),
        "sequence": COUNT,
        "ext": EXT,
    },
    # `request` is a string holding the Native request's JSON (some exchanges send the object itself).
    "Native": {"request": Field("json", required=True), "ver": STR, "api": INTS, "battr": INTS, "ext": EXT},
    "Pmp": {"private_auction": FLAG, "deals": _objs("Deal"), "ext": EXT},
    "Deal": {
        "id": _s(required=True),
        "bidfloor": _n(minimum=0),
        "bidfloorcur": STR,
        "at": INT,
        "wseat": STRS,
        "wadomain": STRS,
        "guar": FLAG,
        "mincpmpersec": NUM,
        "durfloors": _objs("DurFloors"),
        "ext": EXT,
    },
    "DurFloors": {"mindur": INT, "maxdur": INT, "bidfloor": _n(minimum=0), "ext": EXT},
    "Qty": {"multiplier": _n(required=True), "sourcetype": INT, "vendor": STR, "ext": EXT},
    "Refresh": {"refsettings": _objs("RefSettings"), "count": INT, "ext": EXT},
    "RefSettings": {"reftype": INT, "minint": INT, "ext": EXT},
    "Site": {
        "id": STR,
        "name": STR,
        "domain": STR,
        "cattax": INT,
        "cat": STRS,
        "sectioncat": STRS,
        "pagecat": STRS,
        "page": STR,
        "ref": STR,
        "search": STR,
        "mobile": FLAG,
        "privacypolicy": FLAG,
        "publisher": _o("Publisher"),
        "content": _o("Content"),
        "keywords": STR,
        "kwarray": STRS,
        "inventorypartnerdomain": STR,
        "ext": EXT,
    },
    "App": {
        "id": STR,
        "name": STR,
        "bundle": STR,
        "domain": STR,
        "storeurl": STR,
        "cattax": INT,
        "cat": STRS,
        "sectioncat": STRS,
        "pagecat": STRS,
        "ver": STR,
        "privacypolicy": FLAG,
        "paid": FLAG,
        "publisher": _o("Publisher"),
        "content": _o("Content"),
        "keywords": STR,
        "kwarray": STRS,
        "inventorypartnerdomain": STR,
        "ext": EXT,
    },
    "DOOH": {
        "id": STR,
        "name": STR,
        "venuetype": STRS,
        "venuetypetax": INT,
        "publisher": _o("Publisher"),
        "domain": STR,
        "keywords": STR,
        "content": _o("Content"),
        "ext": EXT,
    },
    "Publisher": {"id": STR, "name": STR, "cattax": INT, "cat": STRS, "domain": STR, "ext": EXT},
    "Content": {
        "id": STR,
        "episode": INT,
        "title": STR,
        "series": STR,
        "season": STR,
        "artist": STR,
        "genre": STR,
        "gtax": INT,
        "genres": STRS,
        "album": STR,
        "isrc": STR,
        "producer": _o("Producer"),
        "url": STR,
        "cattax": INT,
        "cat": STRS,
        "prodq": INT,
        "context": INT,
        "contentrating": STR,
        "userrating": STR,
        "qagmediarating": INT,
        "keywords": STR,
        "kwarray": STRS,
        "livestream": FLAG,
        "sourcerelationship": FLAG,
        "len": COUNT,
        "language": STR,
        "langb": STR,
        "embeddable": FLAG,
        "data": _objs("Data"),
        "network": _o("Network"),
        "channel": _o("Channel"),
        "ext": EXT,
    },
    "Producer": {"id": STR, "name": STR, "cattax": INT, "cat": STRS, "domain": STR, "ext": EXT},
    "Network": {"id": STR, "name": STR, "domain": STR, "ext": EXT},
    "Channel": {"id": STR, "name": STR, "domain": STR, "ext": EXT},
    "Data": {"id": STR, "name": STR, "segment": _objs("Segment"), "ext": EXT},
    "Segment": {"id": STR, "name": STR, "value": STR, "ext": EXT},
    "Device": {
        "w": PIXELS,
        "h": PIXELS,
        "ppi": COUNT,
        "geo": _o("Geo"),
        "sua": _o("UserAgent"),
        "dnt": FLAG,
        "lmt": FLAG,
        "ua": STR,
        "ip": STR,
        "ipv6": STR,
        "devicetype": INT,
        "make": STR,
        "model": STR,
        "os": STR,
        "osv": STR,
        "hwv": STR,
        "pxratio": _n(minimum=0),
        "js": FLAG,
        "geofetch": FLAG,
        "flashver": STR,
        "language": STR,
        "langb": STR,
        "carrier": STR,
        "mccmnc": STR,
        "connectiontype": INT,
        "ifa": STR,
        "didsha1": STR,
        "didmd5": STR,
        "dpidsha1": STR,
        "dpidmd5": STR,
        "macsha1": STR,
        "macmd5": STR,
        "ext": EXT,
    },
    # lat and lon are not range-checked: exchanges pass through whatever their sources send, and a
    # bad coordinate only means we do not use it (we target by country and region).
    "Geo": {
        "lat": NUM,
        "lon": NUM,
        "type": INT,
        "accuracy": COUNT,
        "lastfix": INT,
        "ipservice": INT,
        "country": STR,
        "region": STR,
        "regionfips104": STR,
        "metro": STR,
        "city": STR,
        "zip": STR,
        "utcoffset": INT,
        "ext": EXT,
    },
    "UserAgent": {
        "browsers": _objs("BrandVersion"),
        "platform": _o("BrandVersion"),
        "mobile": FLAG,
        "architecture": STR,
        "bitness": STR,
        "model": STR,
        "source": INT,
        "ext": EXT,
    },
    "BrandVersion": {"brand": _s(required=True), "version": STRS, "ext": EXT},
    "User": {
        "id": STR,
        "buyeruid": STR,
        "yob": INT,
        "gender": STR,
        "keywords": STR,
        "kwarray": STRS,
        "customdata": STR,
        "geo": _o("Geo"),
        "data": _objs("Data"),
        "consent": STR,
        "eids": _objs("EID"),
        "ext": EXT,
    },
    "EID": {"inserter": STR, "source": STR, "matcher": STR, "mm": INT, "uids": _objs("UID"), "ext": EXT},
    "UID": {"id": STR, "atype": INT, "ext": EXT},
    "Regs": {"coppa": FLAG, "gdpr": FLAG, "us_privacy": STR, "gpp": STR, "gpp_sid": INTS, "ext": EXT},
    "Source": {"fd": FLAG, "tid": STR, "pchain": STR, "schain": _o("SupplyChain"), "ext": EXT},
    "SupplyChain": {
        "complete": FLAG,
        "nodes": _objs("SupplyChainNode", required=True, min_items=1),
        "ver": _s(required=True),
        "ext": EXT,
    },
    "SupplyChainNode": {
        "asi": _s(required=True),
        "sid": _s(required=True),
        "rid": STR,
        "name": STR,
        "domain": STR,
        "hp": FLAG,
        "ext": EXT,
    },
    # OpenRTB Native 1.2, section 4. Asset ids are checked with the rules across assets (parse.py).
    "NativeRequest": {
        "ver": STR,
        "context": INT,
        "contextsubtype": INT,
        "plcmttype": INT,
        "plcmtcnt": _i(minimum=1),
        "seq": COUNT,
        "assets": _objs("NativeAsset", required=True, min_items=1, max_items=MAX_NATIVE_ASSETS),
        "aurlsupport": FLAG,
        "durlsupport": FLAG,
        "eventtrackers": _objs("NativeEventTracker"),
        "privacy": FLAG,
        "layout": INT,  # Native 1.0, still sent
        "adunit": INT,  # Native 1.0, still sent
        "ext": EXT,
    },
    "NativeAsset": {
        "id": COUNT,
        "required": FLAG,
        "title": _o("NativeTitle"),
        "img": _o("NativeImage"),
        "video": _o("NativeVideo"),
        "data": _o("NativeData"),
        "ext": EXT,
    },
    "NativeTitle": {"len": _i(required=True, minimum=1), "ext": EXT},
    "NativeImage": {
        "type": INT,
        "w": PIXELS,
        "wmin": PIXELS,
        "h": PIXELS,
        "hmin": PIXELS,
        "mimes": STRS,
        "ext": EXT,
    },
    "NativeVideo": {
        "mimes": _strs(required=True, min_items=1),
        "minduration": _i(required=True, minimum=1),
        "maxduration": _i(required=True, minimum=1),
        "protocols": _ints(required=True, min_items=1),
        "ext": EXT,
    },
    "NativeData": {"type": _i(required=True, minimum=1), "len": _i(minimum=1), "ext": EXT},
    "NativeEventTracker": {
        "event": _i(required=True, minimum=1),
        "methods": _ints(required=True, min_items=1),
        "ext": EXT,
    },
}


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def check(value: Any, ref: str, path: str, errors: list[FieldError]) -> dict[str, Any] | None:
    """`value` as an object of schema `ref`: its known, well-typed fields; None if it is no object.

    Every wrong field is appended to `errors`, in the order of the schema's fields.
    """
    if not isinstance(value, dict):
        errors.append(FieldError(path or "body", f"{path or 'The bid request'} must be a JSON object."))
        return None
    out: dict[str, Any] = {}
    for name, spec in OBJECTS[ref].items():
        field_path = join(path, name)
        raw = value.get(name)
        if raw is None:
            if spec.required:
                errors.append(FieldError(field_path, f"{field_path} is required."))
            continue
        ok, cleaned = _value(raw, spec, field_path, errors)
        if ok:
            out[name] = cleaned
    return out


def _value(raw: Any, spec: Field, path: str, errors: list[FieldError]) -> tuple[bool, Any]:
    kind = spec.kind
    if kind == "str":
        if not isinstance(raw, str):
            return _wrong(errors, path, "a string")
        if spec.nonempty and raw == "":
            errors.append(FieldError(path, f"{path} must not be empty."))
            return False, None
        return True, raw
    if kind in ("int", "flag"):
        number = as_int(raw)
        if number is None:
            return _wrong(errors, path, "0 or 1" if kind == "flag" else "an integer")
        if kind == "flag" and number not in (0, 1):
            errors.append(FieldError(path, f"{path} must be 0 or 1, not {number}."))
            return False, None
        return _bounded(number, spec, path, errors)
    if kind == "num":
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            return _wrong(errors, path, "a number")
        return _bounded(raw, spec, path, errors)
    if kind == "obj":
        checked = check(raw, spec.ref, path, errors)
        return checked is not None, checked
    if kind in ("strs", "ints", "objs"):
        return _list(raw, spec, path, errors)
    if kind == "ext":
        if not isinstance(raw, dict):
            return _wrong(errors, path, "a JSON object")
        return True, raw
    if kind == "json":
        if not isinstance(raw, str | dict):
            return _wrong(errors, path, "a string holding a JSON object")
        return True, raw
    raise AssertionError(f"unknown field kind {kind!r}")


def _list(raw: Any, spec: Field, path: str, errors: list[FieldError]) -> tuple[bool, Any]:
    if not isinstance(raw, list):
        return _wrong(errors, path, "a list")
    if len(raw) < spec.min_items:
        errors.append(FieldError(path, f"{path} must have at least {spec.min_items} item(s)."))
        return False, None
    if spec.max_items is not None and len(raw) > spec.max_items:
        errors.append(FieldError(path, f"{path} may have at most {spec.max_items} items, not {len(raw)}."))
        return False, None
    out: list[Any] = []
    for i, item in enumerate(raw):
        item_path = f"{path}[{i}]"
        if spec.kind == "strs":
            if isinstance(item, str):
                out.append(item)
            else:
                _wrong(errors, item_path, "a string")
        elif spec.kind == "ints":
            number = as_int(item)
            if number is None:
                _wrong(errors, item_path, "an integer")
            else:
                out.append(number)
        else:
            checked = check(item, spec.ref, item_path, errors)
            if checked is not None:
                out.append(checked)
    return True, out


def as_int(raw: Any) -> int | None:
    """A JSON integer (1, or 1.0 as some encoders write it), else None. true/false are not integers."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return None


def _bounded(number: float, spec: Field, path: str, errors: list[FieldError]) -> tuple[bool, Any]:
    if spec.minimum is not None and number < spec.minimum:
        limit = {0: "zero or more", 1: "positive"}.get(int(spec.minimum), f"at least {spec.minimum:g}")
        errors.append(FieldError(path, f"{path} must be {limit}, not {number}."))
        return False, None
    if spec.maximum is not None and number > spec.maximum:
        errors.append(FieldError(path, f"{path} must be at most {spec.maximum:g}, not {number}."))
        return False, None
    return True, number


def _wrong(errors: list[FieldError], path: str, expected: str) -> tuple[bool, None]:
    errors.append(FieldError(path, f"{path} must be {expected}."))
    return False, None
