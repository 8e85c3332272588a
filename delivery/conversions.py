"""Conversions in: validation, de-duplication and attribution of what advertisers report.

Advertisers report a conversion by server-to-server postback or by pixel
(delivery.serving.conversion_views), and the Ads Manager sends test ones; all come through
`receive()`, which either refuses the input with a `ConversionError` naming the field and why, or
stores the conversion exactly once:

- De-duplication is PostgreSQL's, by unique constraints (campaigns.models.Conversion): one row per
  (event, event id), forever; one per (event, click id, time); and for events counted once per click,
  one per ad. The insert is tried in a savepoint, and a unique violation of one of these becomes
  "duplicate", answering with the conversion already stored, so twenty identical postbacks at once
  make one row and nineteen duplicates, never an error.
- Times: a conversion may be up to 7 days old and at most 5 minutes ahead of our clock (the
  advertiser's clock may run a little fast); anything else is refused, naming `time`.
- Values are decimal strings (or whole numbers) in the account currency, with at most 6 decimals,
  turned into integer micros exactly; another currency is refused, not converted.

Attribution is decided once, when the conversion arrives: the click its click id names (the `awclid`
added to the landing URL) if that click was valid, is this advertiser's and came before the
conversion within the event's click window; else the user's last valid click on this advertiser's
ads within the click window; else the user's last valid impression within the view window (0 days:
no view-through); else none. Test conversions are never attributed.

The lookups read Redis, where the tracking code writes each counted impression and click through
`remember_impression` / `remember_click`: each click by its event id, and per advertiser and user the
few most recent clicks and impressions. A click id that Redis no longer knows (Redis lost, or the
click is older than the keys live) is looked up in the click and decision tables, on the partition
of the decision's day (the UUIDv7's time).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.money import MAX_MICROS, MICROS_PER_UNIT
from campaigns.models import Conversion, ConversionEvent
from delivery.event_rows import decided_ms
from delivery.hot import redis_client

log = logging.getLogger(__name__)

__all__ = [
    "CLICK_TTL_SECONDS",
    "IMPRESSION_TTL_SECONDS",
    "MAX_AGE",
    "MAX_AHEAD",
    "ConversionError",
    "Received",
    "Touch",
    "attribute",
    "receive",
    "remember_click",
    "remember_impression",
]

MAX_AGE = timedelta(days=7)
MAX_AHEAD = timedelta(minutes=5)
# A click named by its id may be stamped a little after the conversion: our clock and the
# advertiser's are not the same clock.
CLOCK_SKEW = timedelta(minutes=5)
EVENT_ID_MAX_LENGTH = 128
USER_KEY_MAX_LENGTH = 200  # as the decision API takes it (delivery.serving.decisions)
# The longest click and view windows a conversion event may have (campaigns.models.ConversionEvent).
CLICK_TTL_SECONDS = 90 * 86_400
IMPRESSION_TTL_SECONDS = 30 * 86_400
# Per advertiser and user, the most recent clicks and impressions kept: enough to find the last one
# before a conversion reported late, small enough for every user seen.
RECENT_TOUCHES = 16

_KEY = "adwright:conv"
_EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_EPOCH_MS_FROM = 100_000_000_000  # a number this large is milliseconds (seconds would be year 5138)
_DECIMAL = re.compile(r"-?([0-9]+)(?:\.([0-9]*))?|-?\.([0-9]+)")
_EPOCH = re.compile(r"[0-9]{1,16}(?:\.[0-9]{1,9})?")
# "2025-03-04T12:00:00 01:00": a "+" of an offset that a query string turned into a space.
_SPACED_OFFSET = re.compile(r"(.+[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?) ([0-9]{2}(?::?[0-9]{2})?)")
_PLACEHOLDER = re.compile(r"\$?\{+\w*\}+")  # {click_id}, ${click_id}, {{click_id}}: not replaced
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ConversionError(ValueError):
    """Input refused: a 400 naming `field` (`event`, `event_id`, `time`, `value`, `currency`,
    `click_id`, `user_key`). `errors` holds every field's message when several are wrong."""

    def __init__(self, field: str, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.errors = errors or {field: [message]}


@dataclass(frozen=True, slots=True)
class Received:
    conversion: Conversion
    duplicate: bool  # already stored: `conversion` is the one stored first


@dataclass(frozen=True, slots=True)
class Touch:
    """A valid click or impression a conversion may be credited to."""

    kind: str  # Conversion.Attribution.CLICK or VIEW
    event_id: str  # the decision's event id
    campaign_id: int
    ad_group_id: int
    creative_id: int
    at: datetime


# Intake -------------------------------------------------------------------------------------------


def receive(
    *,
    event: ConversionEvent,
    event_id: str | int | None,
    occurred_at: datetime | str | int | Decimal | None,
    value: str | int | Decimal | None,
    currency: str | None,
    click_id: str | uuid.UUID | None,
    user_key: str | None,
    source: str,
    test: bool = False,
    ip: str = "",
    now: datetime | None = None,
) -> Received:
    """Store one reported conversion once, attributed; raise ConversionError for input refused.

    `occurred_at` is an aware datetime, an ISO 8601 time with its offset, or epoch seconds or
    milliseconds; None means now. `now` is the simulator's clock (default: the wall clock)."""
    now = now or timezone.now()
    advertiser = event.advertiser
    errors: dict[str, list[str]] = {}

    def check(field: str, parse: Any, raw: Any) -> Any:
        try:
            return parse(raw)
        except ConversionError as exc:
            errors[field] = [exc.message]
            return None

    if not event.is_active:
        errors["event"] = [
            "This conversion event is turned off: turn it on in Ads Manager to receive conversions."
        ]
    reported_id = check("event_id", _event_id, event_id)
    at = check("time", lambda raw: _occurred_at(raw, now), occurred_at)
    micros = check("value", _value_micros, value)
    check("currency", lambda raw: _currency(raw, advertiser.currency), currency)
    click = check("click_id", _click_id, click_id)
    user = check("user_key", _user_key, user_key)
    if source not in Conversion.Source.values:
        errors["source"] = [f"Expected one of {', '.join(Conversion.Source.values)}."]
    if errors:
        field = next(iter(errors))
        raise ConversionError(field, errors[field][0], errors)

    conversion = Conversion(
        advertiser=advertiser,
        conversion_event=event,
        event_id=reported_id,
        occurred_at=at,
        received_at=now,
        value_micros=micros if micros is not None else event.default_value_micros,
        currency=advertiser.currency,
        click_id=click,
        user_key=user,
        source=source,
        test=test,
        ip=_ip_or_none(ip),
    )
    touch = None if test else attribute(event, click_id=click, user_key=user, occurred_at=at)
    if touch is not None:
        conversion.attribution = touch.kind
        conversion.attributed_event_id = uuid.UUID(touch.event_id)
        conversion.campaign_id = touch.campaign_id
        conversion.ad_group_id = touch.ad_group_id
        conversion.creative_id = touch.creative_id
        conversion.touch_at = touch.at
    if event.counting == ConversionEvent.Counting.ONE and not test:
        conversion.one_per_click_key = conversion.attributed_event_id or click
    return _insert(conversion)


# The unique constraints that make a conversion a duplicate, and how to find the one stored first.
_DUPLICATE_OF = {
    "conversion_event_id_unique": ("event_id",),
    "conversion_click_time_unique": ("click_id", "occurred_at"),
    "conversion_one_per_click_unique": ("one_per_click_key",),
}


def _insert(conversion: Conversion) -> Received:
    try:
        with transaction.atomic():
            conversion.save(force_insert=True)
    except IntegrityError as exc:
        fields = _DUPLICATE_OF.get(_constraint_name(exc) or "")
        if fields is None:
            raise
        first = Conversion.objects.filter(
            conversion_event_id=conversion.conversion_event_id,
            **{name: getattr(conversion, name) for name in fields},
        ).first()
        if first is None:  # the conflicting row is gone again: nothing to point at
            raise
        return Received(first, duplicate=True)
    return Received(conversion, duplicate=False)


def _constraint_name(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


# Parsing, one field at a time: each returns the domain value or raises ConversionError.


def _text(raw: Any, field: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ConversionError(field, "Expected text.")
    text = str(raw).strip()
    if _PLACEHOLDER.fullmatch(text):
        raise ConversionError(field, f"{text} is a placeholder: replace it with the value.")
    return text


def _event_id(raw: Any) -> str:
    text = "" if raw is None else _text(raw, "event_id")
    if not text:
        raise ConversionError(
            "event_id", "Required: your own unique id for this conversion, such as the order number."
        )
    if len(text) > EVENT_ID_MAX_LENGTH:
        raise ConversionError("event_id", f"At most {EVENT_ID_MAX_LENGTH} characters.")
    if _CONTROL.search(text):
        raise ConversionError("event_id", "Contains control characters.")
    return text


def _occurred_at(raw: Any, now: datetime) -> datetime:
    at = now if raw is None or raw == "" else _parse_time(raw)
    if at < now - MAX_AGE:
        raise ConversionError("time", "More than 7 days ago: conversions are accepted for 7 days.")
    if at > now + MAX_AHEAD:
        raise ConversionError("time", "In the future: check the time zone offset, or your server's clock.")
    return at


def _parse_time(raw: Any) -> datetime:
    usage = "Expected an ISO 8601 time with its offset, such as 2025-03-04T12:00:00Z, or epoch seconds."
    if isinstance(raw, datetime):
        if timezone.is_naive(raw):
            raise ConversionError("time", "The time needs a time zone.")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise ConversionError("time", usage)
    text = str(raw).strip()
    if _EPOCH.fullmatch(text):
        number = Decimal(text)
        seconds = number / 1000 if number >= _EPOCH_MS_FROM else number
        try:
            return _EPOCH_START + timedelta(microseconds=int(seconds * 1_000_000))
        except OverflowError:
            raise ConversionError("time", usage) from None
    if len(text) > 40:
        raise ConversionError("time", usage)
    spaced = _SPACED_OFFSET.fullmatch(text)
    if spaced:
        text = f"{spaced[1]}+{spaced[2]}"
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ConversionError("time", usage) from None
    if at.tzinfo is None:
        raise ConversionError("time", "The time needs its offset, such as Z or +01:00.")
    return at


def _value_micros(raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise ConversionError("value", "Expected a decimal number, such as 59.90.")
    text = str(raw).strip()
    if not text:
        return None
    if _PLACEHOLDER.fullmatch(text):
        raise ConversionError("value", f"{text} is a placeholder: replace it with the value.")
    match = _DECIMAL.fullmatch(text) if len(text) <= 40 else None
    if match is None:
        raise ConversionError(
            "value", "Expected a decimal number with a dot and no thousands separator, such as 1250.50."
        )
    if text.startswith("-") and Decimal(text) != 0:
        raise ConversionError("value", "A value cannot be negative.")
    decimals = match[2] or match[3] or ""
    if len(decimals.rstrip("0")) > 6:
        raise ConversionError("value", "At most 6 decimal places.")
    micros = Decimal(text).copy_abs().scaleb(6)  # exact: the pattern admits only plain decimals
    if micros > MAX_MICROS:
        raise ConversionError("value", f"Too large: at most {MAX_MICROS // MICROS_PER_UNIT:,}.")
    return int(micros)


def _currency(raw: Any, account_currency: str) -> str:
    if raw is None:
        return account_currency
    text = _text(raw, "currency").upper()
    if text and text != account_currency:
        raise ConversionError(
            "currency",
            f"This account counts in {account_currency}: send values in {account_currency} "
            "(other currencies are refused, not converted).",
        )
    return account_currency


def _click_id(raw: Any) -> uuid.UUID | None:
    if raw is None or isinstance(raw, uuid.UUID):
        return raw
    usage = "Not a click id: send back the awclid parameter of your landing page URL."
    if isinstance(raw, int):
        raise ConversionError("click_id", usage)
    text = _text(raw, "click_id")
    if not text:
        return None
    try:
        if len(text) > 45:
            raise ValueError(text)
        return uuid.UUID(text)
    except ValueError:
        raise ConversionError("click_id", usage) from None


def _user_key(raw: Any) -> str:
    if raw is None:
        return ""
    text = _text(raw, "user_key")
    if len(text) > USER_KEY_MAX_LENGTH:
        raise ConversionError("user_key", f"At most {USER_KEY_MAX_LENGTH} characters.")
    if _CONTROL.search(text):
        raise ConversionError("user_key", "Contains control characters.")
    return text


def _ip_or_none(ip: str) -> str | None:
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except (ValueError, AttributeError):
        return None


# Attribution --------------------------------------------------------------------------------------


def attribute(
    event: ConversionEvent, *, click_id: uuid.UUID | None, user_key: str, occurred_at: datetime
) -> Touch | None:
    """The click or impression this conversion is credited to, if any (see the module's docstring)."""
    advertiser_id = event.advertiser_id
    click_window = timedelta(days=event.click_window_days)
    try:
        client = redis_client()
        if click_id is not None:
            touch, clicker = _named_click(client, advertiser_id, click_id, occurred_at, click_window)
            if touch is not None:
                return touch
            user_key = user_key or clicker
        if not user_key:
            return None
        touch = _last_touch(client, _clicks_key(advertiser_id, user_key), "click", occurred_at, click_window)
        if touch is None and event.view_window_days:
            view_window = timedelta(days=event.view_window_days)
            touch = _last_touch(client, _views_key(advertiser_id, user_key), "view", occurred_at, view_window)
        return touch
    except redis.RedisError as exc:
        log.warning("conversion attributed without Redis: %s", exc)
        if click_id is None:
            return None
        touch, _ = _named_click(None, advertiser_id, click_id, occurred_at, click_window)
        return touch


def _named_click(
    client: redis.Redis | None,
    advertiser_id: int,
    click_id: uuid.UUID,
    occurred_at: datetime,
    window: timedelta,
) -> tuple[Touch | None, str]:
    """The click a click id names, if it may be credited; and its user (this advertiser's clicks
    only), for the fall-back lookups."""
    stored: dict[Any, Any] = client.hgetall(_click_key(str(click_id))) if client is not None else {}
    click = _click_from_hash(str(click_id), stored) if stored else _click_from_database(click_id)
    if click is None or click[0] != advertiser_id:
        return None, ""
    _, touch, user_key = click
    if occurred_at - window <= touch.at <= occurred_at + CLOCK_SKEW:
        return touch, user_key
    return None, user_key


def _click_from_hash(event_id: str, stored: dict[Any, Any]) -> tuple[int, Touch, str] | None:
    try:
        return (
            int(stored[b"advertiser_id"]),
            Touch(
                kind=Conversion.Attribution.CLICK,
                event_id=event_id,
                campaign_id=int(stored[b"campaign_id"]),
                ad_group_id=int(stored[b"ad_group_id"]),
                creative_id=int(stored[b"creative_id"]),
                at=_from_ms(int(stored[b"at"])),
            ),
            stored.get(b"user_key", b"").decode(),
        )
    except (KeyError, ValueError):
        log.warning("unreadable click %s in Redis", event_id)
        return None


def _click_from_database(click_id: uuid.UUID) -> tuple[int, Touch, str] | None:
    """A valid click from the event tables, on its decision's day partition only."""
    from delivery.models import ClickEvent, DecisionEvent

    if click_id.version != 7:  # not one of our event ids: it has no partition to look in
        return None
    decided = _from_ms(decided_ms(str(click_id)))
    on_its_day = {
        "event_id": click_id,
        "decided_at__gte": decided,
        "decided_at__lt": decided + timedelta(milliseconds=1),
    }
    click = ClickEvent.objects.filter(**on_its_day).values("at", "ivt_reason").first()
    if click is None or click["ivt_reason"]:
        return None
    decision = (
        DecisionEvent.objects.filter(**on_its_day)
        .values("advertiser_id", "campaign_id", "ad_group_id", "creative_id", "user_key", "test")
        .first()
    )
    if decision is None or decision["test"]:
        return None
    touch = Touch(
        kind=Conversion.Attribution.CLICK,
        event_id=str(click_id),
        campaign_id=decision["campaign_id"],
        ad_group_id=decision["ad_group_id"],
        creative_id=decision["creative_id"],
        at=click["at"],
    )
    return decision["advertiser_id"], touch, decision["user_key"]


def _last_touch(
    client: redis.Redis, key: str, kind: str, occurred_at: datetime, window: timedelta
) -> Touch | None:
    """The latest touch in the user's sorted set between the window's start and the conversion."""
    found: list[tuple[bytes, float]] = client.zrevrangebyscore(  # type: ignore[assignment]
        key, _ms(occurred_at), _ms(occurred_at - window), start=0, num=1, withscores=True
    )
    if not found:
        return None
    member, score = found[0]
    try:
        event_id, campaign_id, ad_group_id, creative_id = member.decode().split(":")
        return Touch(
            kind, event_id, int(campaign_id), int(ad_group_id), int(creative_id), _from_ms(int(score))
        )
    except ValueError:
        log.warning("unreadable touch %r in %s", member, key)
        return None


# Remembering clicks and impressions (called by the tracking code for counted events) ---------------


def remember_impression(
    pipe: redis.client.Pipeline,
    *,
    advertiser_id: int,
    campaign_id: int,
    ad_group_id: int,
    creative_id: int,
    event_id: str,
    user_key: str,
    at: datetime,
) -> None:
    """Add to `pipe` what view-through attribution needs of a valid impression (nothing without a user)."""
    if user_key:
        member = _member(event_id, campaign_id, ad_group_id, creative_id)
        _remember_touch(pipe, _views_key(advertiser_id, user_key), member, at, IMPRESSION_TTL_SECONDS)


def remember_click(
    pipe: redis.client.Pipeline,
    *,
    advertiser_id: int,
    campaign_id: int,
    ad_group_id: int,
    creative_id: int,
    event_id: str,
    user_key: str,
    at: datetime,
) -> None:
    """Add to `pipe` what click attribution needs of a valid click: the click by its id (for the
    awclid sent back), and the user's recent clicks."""
    key = _click_key(event_id)
    pipe.hset(
        key,
        mapping={
            "advertiser_id": advertiser_id,
            "campaign_id": campaign_id,
            "ad_group_id": ad_group_id,
            "creative_id": creative_id,
            "user_key": user_key,
            "at": _ms(at),
        },
    )
    pipe.expire(key, CLICK_TTL_SECONDS)
    if user_key:
        member = _member(event_id, campaign_id, ad_group_id, creative_id)
        _remember_touch(pipe, _clicks_key(advertiser_id, user_key), member, at, CLICK_TTL_SECONDS)


def _remember_touch(pipe: redis.client.Pipeline, key: str, member: str, at: datetime, ttl: int) -> None:
    pipe.zadd(key, {member: _ms(at)})
    pipe.zremrangebyrank(key, 0, -(RECENT_TOUCHES + 1))  # the oldest beyond the most recent few
    pipe.expire(key, ttl)


def _member(event_id: str, campaign_id: int, ad_group_id: int, creative_id: int) -> str:
    return f"{event_id}:{campaign_id}:{ad_group_id}:{creative_id}"


def _click_key(event_id: str) -> str:
    return f"{_KEY}:click:{event_id}"


def _clicks_key(advertiser_id: int, user_key: str) -> str:
    return f"{_KEY}:clicks:{advertiser_id}:{user_key}"


def _views_key(advertiser_id: int, user_key: str) -> str:
    return f"{_KEY}:views:{advertiser_id}:{user_key}"


def _ms(at: datetime) -> int:
    return (at - _EPOCH_START) // _MILLISECOND


def _from_ms(ms: int) -> datetime:
    return _EPOCH_START + ms * _MILLISECOND
