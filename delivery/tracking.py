"""Tracking URLs for the ads we serve, and what happens when they are fired.

Each ad chosen by the auction (a `Win`) gets signed URLs, made at decision time:

- impression: `/t/v1/i/<token>.gif`, a 1x1 pixel, fired when the ad is shown;
- click: `/t/v1/c/<token>`, a 302 to the creative's stored landing URL, and only there: the target
  is looked up by the creative id inside the token, never taken from the request;
- notices for exchanges (OpenRTB `nurl`, `burl`, `lurl`): `/t/v1/n/<win|billing|loss>/<token>?price=
  ${AUCTION_PRICE}` (loss also `&reason=${AUCTION_LOSS}`), the macros left for the exchange to fill.

A token is `django.core.signing.dumps` (HMAC with SECRET_KEY, timestamped, compressed) of a compact
list: the event id and the ids of the ad, the bid, the price, the currency, the billing event, the
user key and what the billable event costs (the impression's price, or for a click its price over
pCTR). Each kind of URL has its own salt, so that one kind's token is no good as another's. The
event id, made once per decision, is the token's one-time nonce: the first fire of an impression,
click or notice claims it in Redis (SET NX `adwright:seen:<kind>:<event_id>`, kept a little longer
than the token is valid), and later fires are duplicates, never a new event.

What each fire of an impression or click becomes:

- a token that does not verify: `BadToken` (the endpoint answers 400 naming `token`); nothing is
  recorded, and the day's `tampered` counter is incremented;
- a duplicate: no event; the day's `duplicate` counter;
- otherwise one event on the stream (delivery.events), with `ivt_reason` "" when valid, or why it is
  invalid traffic: `expired` (fired after its time to live: impressions 1 hour after the decision,
  clicks 7 days, settings TRACKING_IMPRESSION_TTL_SECONDS / TRACKING_CLICK_TTL_SECONDS), a bot or
  non-browser agent, a rate limit (delivery.ivt.classify), or `click_without_impression`. Invalid
  events are stored with their reason and never billed;
- a valid impression of an ad group billed per impression, or a valid click of one billed per click,
  is charged the amount its token carries (delivery.budget.charge: the event and its charge go on
  the stream together, once); and a valid one is remembered for frequency caps and for attributing
  conversions (delivery.gate.count_impression, delivery.conversions.remember_*).

Time to live is measured on the wall clock (the signature's timestamp against now); the `at` a caller
passes (the simulator's clock) is the event's time and the rate limits' minute, not the token's age.

To tell a click whether its impression was fired, the impression's mark is kept as long as a click on
it can be valid (the click TTL): about 100 bytes of Redis per impression for a week by default.

Notices record the clearing price the exchange reports, once per event id and notice, however often
fired, for 7 days after the decision (TRACKING_NOTICE_TTL_SECONDS; later, a 400 naming `token`). The
price is a decimal string of USD per thousand impressions (OpenRTB), parsed exactly to micros: no
more than 6 decimal places, at least 0, and for win and billing notices required and at most our
bid. A loss notice's price and reason are optional (exchanges often withhold them).

`record_impression` and `record_click` are used by the endpoints (delivery.serving.tracking_views)
and by the traffic simulator directly, so the simulator's events go through the same code.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.core import signing
from django.utils import timezone
from redis.client import Pipeline

from accounts.money import MAX_MICROS
from delivery import auction, budget, conversions, gate, ivt
from delivery.events import EventKind, add_events, emit
from delivery.hot import redis_client
from delivery.ivt import IvtReason
from delivery.request import Win

log = logging.getLogger(__name__)

__all__ = [
    "NOTICES",
    "BadToken",
    "ClickOutcome",
    "ImpressionOutcome",
    "NoticeOutcome",
    "TrackingError",
    "TrackingUrls",
    "landing_url",
    "notice_url",
    "record_click",
    "record_impression",
    "record_notice",
    "tracking_urls",
]

PATH_PREFIX = "/t/v1"
NOTICES = ("win", "billing", "loss")
AUCTION_PRICE_MACRO = "${AUCTION_PRICE}"
AUCTION_LOSS_MACRO = "${AUCTION_LOSS}"

DEFAULT_IMPRESSION_TTL_SECONDS = 3600
DEFAULT_CLICK_TTL_SECONDS = 7 * 86_400
# Exchanges send billing notices when the ad renders, which can be long after the win.
DEFAULT_NOTICE_TTL_SECONDS = 7 * 86_400
# The nonces are kept this much longer than their tokens are valid (clock differences between hosts).
SEEN_MARGIN_SECONDS = 600
# Our tokens are about 250 characters; anything much longer is not one of them.
TOKEN_MAX_LENGTH = 1024
_TOKEN_VERSION = 2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_PRICE = re.compile(r"([0-9]{1,15})(?:\.([0-9]+))?")
_LOSS_REASON = re.compile(r"[0-9]{1,6}")


class TrackingError(ValueError):
    """Input a tracking endpoint refuses: a 400 naming `field` (`token`, `notice`, `price`, `reason`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class BadToken(TrackingError):
    """A token that is not one of ours: unsigned, tampered with, or for another kind of URL."""

    def __init__(self, message: str = "This tracking URL is not valid.") -> None:
        super().__init__("token", message)


@dataclass(frozen=True, slots=True)
class TrackingUrls:
    impression_url: str
    click_url: str


@dataclass(frozen=True, slots=True)
class TrackedAd:
    """What a token carries: the served ad, as much as its events need."""

    event_id: str
    creative_id: int
    ad_group_id: int
    campaign_id: int
    advertiser_id: int
    placement_id: int | None
    bid_cpm_micros: int  # USD micros CPM: a notice's price may not be above it
    price_micros: int  # one impression, in the advertiser's currency
    currency: str
    billing_event: str
    user_key: str
    charge_micros: int  # what the billable event (impression or click, by billing_event) costs

    @classmethod
    def from_win(cls, win: Win, user_key: str) -> TrackedAd:
        return cls(
            event_id=win.event_id,
            creative_id=win.creative_id,
            ad_group_id=win.ad_group_id,
            campaign_id=win.campaign_id,
            advertiser_id=win.advertiser_id,
            placement_id=win.placement_id,
            bid_cpm_micros=win.bid_cpm_micros,
            price_micros=win.price_micros,
            currency=win.currency,
            billing_event=win.billing_event,
            user_key=user_key,
            charge_micros=(
                auction.click_price_micros(win.price_micros, win.pctr)
                if win.billing_event == "click"
                else win.price_micros
            ),
        )

    def payload(self) -> list[Any]:
        return [
            _TOKEN_VERSION,
            self.event_id,
            self.creative_id,
            self.ad_group_id,
            self.campaign_id,
            self.advertiser_id,
            self.placement_id,
            self.bid_cpm_micros,
            self.price_micros,
            self.currency,
            self.billing_event,
            self.user_key,
            self.charge_micros,
        ]

    @classmethod
    def from_payload(cls, payload: object) -> TrackedAd:
        # Only our own signed payloads get here; the checks guard against a change of format.
        if not (isinstance(payload, list) and len(payload) == len(_PAYLOAD_TYPES) + 1):
            raise BadToken()
        version, *fields = payload
        if version != _TOKEN_VERSION or not all(
            type(value) in types for value, types in zip(fields, _PAYLOAD_TYPES, strict=True)
        ):
            raise BadToken()
        return cls(*fields)


# The payload's fields after the version, in TrackedAd's order, and the JSON types each may have.
_PAYLOAD_TYPES: tuple[tuple[type, ...], ...] = (
    (str,),  # event_id
    (int,),  # creative_id
    (int,),  # ad_group_id
    (int,),  # campaign_id
    (int,),  # advertiser_id
    (int, type(None)),  # placement_id
    (int,),  # bid_cpm_micros
    (int,),  # price_micros
    (str,),  # currency
    (str,),  # billing_event
    (str,),  # user_key
    (int,),  # charge_micros
)


@dataclass(frozen=True, slots=True)
class ImpressionOutcome:
    event_id: str
    counted: bool  # a valid impression, recorded for the first time
    ivt_reason: str  # "" when valid
    recorded: bool  # an event went on the stream (valid, or invalid with its reason)
    charged_micros: int = 0  # charged for it now (impressions of ad groups billed per impression)


@dataclass(frozen=True, slots=True)
class ClickOutcome:
    event_id: str
    landing_url: str  # where the user goes, counted or not; "" when the creative no longer exists
    counted: bool
    ivt_reason: str
    had_impression: bool
    recorded: bool
    charged_micros: int = 0  # charged for it now (clicks of ad groups billed per click)


@dataclass(frozen=True, slots=True)
class NoticeOutcome:
    event_id: str
    notice: str
    price_cpm_micros: int | None  # USD micros CPM as the exchange reported it
    recorded: bool  # False when this notice was already recorded for the event


# Building the URLs -------------------------------------------------------------------------------


def tracking_urls(win: Win, base_url: str, *, user_key: str | None = None) -> TrackingUrls:
    """The impression pixel and click URLs of a served ad. `base_url` like "https://ads.example.com".

    `user_key` (the request's) is what per-user rate limits count; it defaults to `win.user_key` when
    the Win carries one.
    """
    ad = TrackedAd.from_win(win, _user_key(win, user_key))
    base = base_url.rstrip("/")
    return TrackingUrls(
        impression_url=f"{base}{PATH_PREFIX}/i/{_sign(ad, 'impression')}.gif",
        click_url=f"{base}{PATH_PREFIX}/c/{_sign(ad, 'click')}",
    )


def notice_url(win: Win, notice: str, base_url: str, *, user_key: str | None = None) -> str:
    """An exchange's win, billing or loss notice URL, with the OpenRTB macros left literal."""
    if notice not in NOTICES:
        raise ValueError(f"notice must be one of {', '.join(NOTICES)}, not {notice!r}")
    ad = TrackedAd.from_win(win, _user_key(win, user_key))
    url = f"{base_url.rstrip('/')}{PATH_PREFIX}/n/{notice}/{_sign(ad, notice)}?price={AUCTION_PRICE_MACRO}"
    if notice == "loss":
        url += f"&reason={AUCTION_LOSS_MACRO}"
    return url


def _user_key(win: Win, user_key: str | None) -> str:
    return user_key if user_key is not None else str(getattr(win, "user_key", "") or "")


def _salt(kind: str) -> str:
    return f"adwright.tracking.{kind}"


def _sign(ad: TrackedAd, kind: str) -> str:
    return signing.dumps(ad.payload(), salt=_salt(kind), compress=True)


def _ttl(kind: str) -> int:
    if kind == "impression":
        return int(getattr(settings, "TRACKING_IMPRESSION_TTL_SECONDS", DEFAULT_IMPRESSION_TTL_SECONDS))
    if kind == "click":
        return int(getattr(settings, "TRACKING_CLICK_TTL_SECONDS", DEFAULT_CLICK_TTL_SECONDS))
    return int(getattr(settings, "TRACKING_NOTICE_TTL_SECONDS", DEFAULT_NOTICE_TTL_SECONDS))


def read_token(token: str, kind: str) -> tuple[TrackedAd, bool]:
    """The ad in a token of `kind`, and whether the token has expired. Raises BadToken."""
    if not isinstance(token, str) or not token or len(token) > TOKEN_MAX_LENGTH or not token.isascii():
        raise BadToken()
    salt = _salt(kind)
    try:
        try:
            return TrackedAd.from_payload(signing.loads(token, salt=salt, max_age=_ttl(kind))), False
        except signing.SignatureExpired:
            # The signature is good, only old: read it without the age limit to record it as expired.
            return TrackedAd.from_payload(signing.loads(token, salt=salt)), True
    except (signing.BadSignature, ValueError, TypeError) as exc:
        if isinstance(exc, BadToken):
            raise
        raise BadToken() from None


# Recording ---------------------------------------------------------------------------------------


def record_impression(
    token: str, *, ip: str, user_agent: str, at: datetime | None = None
) -> ImpressionOutcome:
    """Record one fire of an impression pixel. Raises BadToken for a token that is not ours."""
    at = _when(at)
    kind = EventKind.IMPRESSION
    ad, expired = _read_or_count(token, kind, at)
    client = redis_client()
    marker_ttl = max(_ttl("impression"), _ttl("click")) + SEEN_MARGIN_SECONDS  # clicks ask for it
    if not client.set(_seen_key("imp", ad.event_id), 1, nx=True, ex=marker_ttl):
        ivt.count(IvtReason.DUPLICATE, kind, at)
        return ImpressionOutcome(ad.event_id, counted=False, ivt_reason=IvtReason.DUPLICATE, recorded=False)
    if expired:
        reason: str = IvtReason.EXPIRED
    else:
        reason = ivt.classify(ip, user_agent, user_key=ad.user_key, kind=kind, at=at)
    event = {**_seen_by(ad, at, ip, user_agent), "ivt_reason": str(reason)}
    charged = _record(ad, kind, event, at, valid=not reason, billable=ad.billing_event == "impression")
    ivt.count(reason, kind, at)
    return ImpressionOutcome(
        ad.event_id, counted=not reason, ivt_reason=str(reason), recorded=True, charged_micros=charged
    )


def record_click(token: str, *, ip: str, user_agent: str, at: datetime | None = None) -> ClickOutcome:
    """Record one fire of a click URL; the outcome's `landing_url` is where to send the user.

    Raises BadToken for a token that is not ours. An ad whose creative no longer exists has nowhere
    to send the user and nothing to bill: nothing is recorded and `landing_url` is "".
    """
    at = _when(at)
    kind = EventKind.CLICK
    ad, expired = _read_or_count(token, kind, at)
    target = landing_url(ad.creative_id)
    if not target:
        return ClickOutcome(
            ad.event_id, "", counted=False, ivt_reason="", had_impression=False, recorded=False
        )
    client = redis_client()
    pipe = client.pipeline(transaction=False)
    pipe.set(_seen_key("clk", ad.event_id), 1, nx=True, ex=_ttl("click") + SEEN_MARGIN_SECONDS)
    pipe.exists(_seen_key("imp", ad.event_id))
    first, impressions = pipe.execute()
    had_impression = bool(impressions)
    if not first:
        ivt.count(IvtReason.DUPLICATE, kind, at)
        return ClickOutcome(
            ad.event_id,
            target,
            counted=False,
            ivt_reason=IvtReason.DUPLICATE,
            had_impression=had_impression,
            recorded=False,
        )
    if expired:
        reason: str = IvtReason.EXPIRED
    else:
        reason = ivt.classify(ip, user_agent, user_key=ad.user_key, kind=kind, at=at)
        if not reason and not had_impression:
            reason = IvtReason.CLICK_WITHOUT_IMPRESSION
    event = {**_seen_by(ad, at, ip, user_agent), "ivt_reason": str(reason), "had_impression": had_impression}
    charged = _record(ad, kind, event, at, valid=not reason, billable=ad.billing_event == "click")
    ivt.count(reason, kind, at)
    return ClickOutcome(
        ad.event_id,
        target,
        counted=not reason,
        ivt_reason=str(reason),
        had_impression=had_impression,
        recorded=True,
        charged_micros=charged,
    )


def record_notice(
    token: str, notice: str, *, price: str | None, loss_reason: str | None = None, at: datetime | None = None
) -> NoticeOutcome:
    """Record an exchange's win, billing or loss notice once. Raises TrackingError naming the field."""
    at = _when(at)
    if notice not in NOTICES:
        raise TrackingError("notice", f"Not a notice: expected one of {', '.join(NOTICES)}.")
    ad, expired = _read_or_count(token, EventKind.NOTICE, at, salt_kind=notice)
    if expired:
        ivt.count(IvtReason.EXPIRED, EventKind.NOTICE, at)
        raise BadToken("This notice URL has expired.")
    if notice == "loss":
        price_cpm_micros = None if _withheld(price, AUCTION_PRICE_MACRO) else parse_price_micros(price or "")
        reason = "" if _withheld(loss_reason, AUCTION_LOSS_MACRO) else (loss_reason or "").strip()
        if reason and not _LOSS_REASON.fullmatch(reason):
            raise TrackingError("reason", "An OpenRTB loss reason code is a whole number.")
    else:
        if price is None or not price.strip():
            raise TrackingError("price", "The clearing price is required.")
        price_cpm_micros = parse_price_micros(price)
        if price_cpm_micros > ad.bid_cpm_micros:
            raise TrackingError("price", "The clearing price is above the bid.")
        reason = ""
    key = _seen_key(f"notice:{notice}", ad.event_id)
    if not redis_client().set(key, 1, nx=True, ex=_ttl(notice) + SEEN_MARGIN_SECONDS):
        ivt.count(IvtReason.DUPLICATE, EventKind.NOTICE, at)
        return NoticeOutcome(ad.event_id, notice, price_cpm_micros, recorded=False)
    emit(
        EventKind.NOTICE,
        {
            "event_id": ad.event_id,
            "at": _epoch_ms(at),
            "notice": notice,
            "price_cpm_micros": price_cpm_micros,
            "loss_reason": reason,
        },
    )
    ivt.count("", EventKind.NOTICE, at)
    return NoticeOutcome(ad.event_id, notice, price_cpm_micros, recorded=True)


def _record(
    ad: TrackedAd, kind: EventKind, event: dict[str, Any], at: datetime, *, valid: bool, billable: bool
) -> int:
    """Put an impression or click event on the stream; a valid billable one is charged with it, in
    the same Redis script (delivery.budget.charge). Returns the micros charged."""

    def also(pipe: Pipeline) -> None:
        if valid:
            _remember(pipe, ad, kind, at)

    if valid and billable and ad.charge_micros > 0:
        outcome = budget.charge(
            event_id=ad.event_id,
            campaign_id=ad.campaign_id,
            ad_group_id=ad.ad_group_id,
            creative_id=ad.creative_id,
            amount_micros=ad.charge_micros,
            reason=str(kind),
            at=at,
            event_kind=kind,
            event=event,
            also=also,
        )
        return outcome.amount_micros if outcome.charged and not outcome.duplicate else 0
    pipe = redis_client().pipeline(transaction=False)
    add_events(pipe, [(kind, event)])
    also(pipe)
    pipe.execute()
    return 0


def _remember(pipe: Pipeline, ad: TrackedAd, kind: EventKind, at: datetime) -> None:
    """What a counted impression or click leaves for later: the frequency counters, and the touch
    that a conversion may be attributed to."""
    remember = conversions.remember_click if kind == EventKind.CLICK else conversions.remember_impression
    remember(
        pipe,
        advertiser_id=ad.advertiser_id,
        campaign_id=ad.campaign_id,
        ad_group_id=ad.ad_group_id,
        creative_id=ad.creative_id,
        event_id=ad.event_id,
        user_key=ad.user_key,
        at=at,
    )
    if kind == EventKind.IMPRESSION:
        from delivery import engine  # imported here: the engine's module is heavy and may import this one

        gate.count_impression(
            pipe, engine.snapshot(), ad_group_id=ad.ad_group_id, user_key=ad.user_key, at=at
        )


def parse_price_micros(raw: str) -> int:
    """An OpenRTB price (USD CPM as a decimal string, e.g. "1.25") as exact integer micros."""
    text = raw.strip()
    if "${" in text or "AUCTION_" in text.upper():
        raise TrackingError("price", "The exchange did not substitute the ${AUCTION_PRICE} macro.")
    match = _PRICE.fullmatch(text)
    if match is None:
        raise TrackingError("price", "The price is not a decimal number of USD per thousand, like 1.25.")
    if match.group(2) is not None and len(match.group(2)) > 6:
        raise TrackingError("price", "The price has more than 6 decimal places (a millionth of a dollar).")
    micros = Decimal(text).scaleb(6)  # exact: at most 6 decimal places
    if micros > MAX_MICROS:
        raise TrackingError("price", "The price is too large.")
    return int(micros)


def landing_url(creative_id: int) -> str:
    """The creative's stored landing URL: from the index snapshot, else the database; "" if it is gone.

    A creative paused since its ad was shown is no longer in the snapshot, but the click must still
    reach the advertiser, hence the one query.
    """
    url = _landing_url_from_index(creative_id)
    if url is not None:
        return url
    from campaigns.models import Creative

    return Creative.objects.filter(pk=creative_id).values_list("landing_url", flat=True).first() or ""


def _landing_url_from_index(creative_id: int) -> str | None:
    from delivery import engine  # imported here: the engine's module is heavy and may import this one

    info = engine.snapshot().creatives.get(creative_id)
    return info.landing_url if info is not None and info.landing_url else None


def _withheld(value: str | None, macro: str) -> bool:
    return value is None or not value.strip() or value.strip() == macro


def _read_or_count(token: str, kind: EventKind, at: datetime, salt_kind: str = "") -> tuple[TrackedAd, bool]:
    try:
        return read_token(token, salt_kind or kind)
    except BadToken:
        try:
            ivt.count(IvtReason.TAMPERED, kind, at)
        except (redis.RedisError, OSError) as exc:
            log.warning("tampered tracking URL not counted: %s", exc)
        raise


def _seen_key(kind: str, event_id: str) -> str:
    return f"adwright:seen:{kind}:{event_id}"


def _seen_by(ad: TrackedAd, at: datetime, ip: str, user_agent: str) -> dict[str, Any]:
    return {
        "event_id": ad.event_id,
        "at": _epoch_ms(at),
        "ip": _ip_or_none(ip),
        "user_agent": user_agent[: ivt.USER_AGENT_MAX_LENGTH],
    }


def _ip_or_none(ip: str) -> str | None:
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except (ValueError, AttributeError):
        return None


def _when(at: datetime | None) -> datetime:
    if at is None:
        return timezone.now()
    if timezone.is_naive(at):
        raise ValueError("at must be an aware datetime")
    return at


def _epoch_ms(at: datetime) -> int:
    return (at - _EPOCH) // _MILLISECOND
