"""Tracking URLs and what their fires record (delivery.tracking), called as the simulator calls it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
import time_machine
from django.core import signing
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns.models import Creative
from delivery import engine, ivt
from delivery.events import STREAM, new_event_id
from delivery.request import Win
from delivery.tracking import (
    BadToken,
    TrackingError,
    landing_url,
    notice_url,
    parse_price_micros,
    read_token,
    record_click,
    record_impression,
    record_notice,
    tracking_urls,
)
from tests.delivery.serving import fresh_index, live_ad_group
from tests.factories import CreativeFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]

BASE = "https://ads.example.com"
LANDING = "https://shop.example/landing?utm_source=adwright"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
IP = "198.51.100.23"
T0 = datetime(2025, 3, 4, 12, 0, 30, tzinfo=UTC)


def make_win(creative: Creative | None = None, **fields) -> Win:
    """A Win for `creative` (the ids as the auction would give them), priced 2.00 USD CPM of a 2.50 bid."""
    creative = creative or CreativeFactory(landing_url=LANDING)
    values = {
        "event_id": new_event_id(),
        "slot_id": "slot-1",
        "placement_id": None,
        "advertiser_id": creative.advertiser_id,
        "campaign_id": creative.ad_group.campaign_id,
        "ad_group_id": creative.ad_group_id,
        "creative_id": creative.pk,
        "bid_cpm_micros": 2_500_000,
        "price_cpm_micros": 2_000_000,
        "price_micros": 2_000,
        "currency": "USD",
        "billing_event": "impression",
        "pctr": 0.01,
        "pcvr": 0.001,
        "runner_up_cpm_micros": 2_000_000,
    }
    return Win(**(values | fields))


def token_of(url: str) -> str:
    token = url.split("?")[0].rsplit("/", 1)[1]
    return token.removesuffix(".gif")


def stream(redis_client, kind: str) -> list[dict]:
    entries = redis_client.xrange(STREAM)
    return [orjson.loads(data[b"data"]) for _, data in entries if data[b"kind"] == kind.encode()]


def fire_impression(win: Win, *, ip: str = IP, user_agent: str = CHROME, at: datetime | None = None, **kw):
    return record_impression(
        token_of(tracking_urls(win, BASE, **kw).impression_url), ip=ip, user_agent=user_agent, at=at
    )


def fire_click(win: Win, *, ip: str = IP, user_agent: str = CHROME, at: datetime | None = None, **kw):
    return record_click(
        token_of(tracking_urls(win, BASE, **kw).click_url), ip=ip, user_agent=user_agent, at=at
    )


# Signing -----------------------------------------------------------------------------------------


def test_urls_round_trip_the_ad_they_were_made_for():
    win = make_win(placement_id=7)
    urls = tracking_urls(win, BASE + "/", user_key="user-1")
    assert urls.impression_url.startswith(f"{BASE}/t/v1/i/")
    assert urls.impression_url.endswith(".gif")
    assert urls.click_url.startswith(f"{BASE}/t/v1/c/")
    for kind, url in (("impression", urls.impression_url), ("click", urls.click_url)):
        ad, expired = read_token(token_of(url), kind)
        assert not expired
        assert (ad.event_id, ad.creative_id, ad.ad_group_id, ad.campaign_id, ad.advertiser_id) == (
            win.event_id, win.creative_id, win.ad_group_id, win.campaign_id, win.advertiser_id,
        )  # fmt: skip
        assert (ad.placement_id, ad.bid_cpm_micros, ad.price_micros, ad.currency, ad.billing_event) == (
            7, 2_500_000, 2_000, "USD", "impression",
        )  # fmt: skip
        assert ad.user_key == "user-1"
    assert len(urls.click_url) < 400  # short enough for any ad markup


def test_a_token_is_good_only_for_its_own_kind_of_url():
    urls = tracking_urls(make_win(), BASE)
    with pytest.raises(BadToken):
        read_token(token_of(urls.impression_url), "click")
    with pytest.raises(BadToken):
        read_token(token_of(urls.click_url), "impression")
    with pytest.raises(BadToken):
        read_token(token_of(notice_url(make_win(), "win", BASE)), "billing")


def test_a_tampered_token_records_nothing_but_is_counted(redis_client):
    token = token_of(tracking_urls(make_win(), BASE).impression_url)
    payload, timestamp, signature = token.rsplit(":", 2)
    forged = signing.dumps([1, new_event_id(), 1, 1, 1, 1, None, 1, 1, "USD", "impression", ""], key="x" * 50)
    for bad in (
        f"{payload}:{timestamp}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        f"{payload[:-2]}xx:{timestamp}:{signature}",
        f"{payload}:{timestamp}",
        forged,
        "",
        "not-a-token",
    ):
        with pytest.raises(BadToken) as exc_info:
            record_impression(bad, ip=IP, user_agent=CHROME, at=T0)
        assert exc_info.value.field == "token"
    assert redis_client.xlen(STREAM) == 0
    assert ivt.daily_counts(T0.date()) == {"tampered": {"impression": 6}}


@hypothesis_settings(
    max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(token=st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_\-.:]{0,300}", fullmatch=True))
def test_no_string_is_anything_but_a_token_or_a_bad_token(redis_client, token):
    for record in (record_impression, record_click):
        with pytest.raises(BadToken):
            record(token, ip=IP, user_agent=CHROME)
    with pytest.raises(BadToken):
        record_notice(token, "win", price="1.00")
    assert redis_client.xlen(STREAM) == 0


# Impressions -------------------------------------------------------------------------------------


def test_an_impression_counts_once_however_often_fired(redis_client):
    win = make_win()
    first = fire_impression(win, at=T0)
    again = fire_impression(win, at=T0 + timedelta(seconds=5))
    assert (first.counted, first.ivt_reason, first.recorded) == (True, "", True)
    assert (again.counted, again.ivt_reason, again.recorded) == (False, "duplicate", False)
    events = stream(redis_client, "impression")
    assert events == [
        {
            "event_id": win.event_id,
            "at": int(T0.timestamp() * 1000),
            "ip": IP,
            "user_agent": CHROME,
            "ivt_reason": "",
        }
    ]
    assert ivt.daily_counts(T0.date()) == {"valid": {"impression": 1}, "duplicate": {"impression": 1}}


def test_an_expired_impression_is_recorded_as_invalid(redis_client):
    win = make_win()
    with time_machine.travel(T0, tick=False):
        urls = tracking_urls(win, BASE)
    with time_machine.travel(T0 + timedelta(hours=1, seconds=1), tick=False):
        outcome = record_impression(token_of(urls.impression_url), ip=IP, user_agent=CHROME)
    assert (outcome.counted, outcome.ivt_reason, outcome.recorded) == (False, "expired", True)
    assert [event["ivt_reason"] for event in stream(redis_client, "impression")] == ["expired"]


def test_the_time_to_live_is_a_setting(settings, redis_client):
    settings.TRACKING_IMPRESSION_TTL_SECONDS = 10
    with time_machine.travel(T0, tick=False):
        urls = tracking_urls(make_win(), BASE)
    with time_machine.travel(T0 + timedelta(seconds=11), tick=False):
        assert (
            record_impression(token_of(urls.impression_url), ip=IP, user_agent=CHROME).ivt_reason == "expired"
        )


@pytest.mark.parametrize(
    ("user_agent", "reason"),
    [(GOOGLEBOT, "crawler"), ("python-requests/2.31.0", "non_browser"), ("", "non_browser")],
)
def test_bots_are_recorded_with_their_reason_and_not_counted(redis_client, user_agent, reason):
    outcome = fire_impression(make_win(), user_agent=user_agent)
    assert (outcome.counted, outcome.ivt_reason, outcome.recorded) == (False, reason, True)
    assert [event["ivt_reason"] for event in stream(redis_client, "impression")] == [reason]


def test_impressions_past_the_ip_rate_limit_are_invalid(settings, redis_client):
    settings.IVT_IMPRESSIONS_PER_MINUTE_PER_IP = 3
    outcomes = [fire_impression(make_win(), at=T0) for _ in range(4)]
    assert [o.ivt_reason for o in outcomes] == ["", "", "", "ip_rate_limited"]
    assert fire_impression(make_win(), ip="198.51.100.24", at=T0).counted  # another address
    assert fire_impression(make_win(), at=T0 + timedelta(minutes=1)).counted  # the next minute


def test_clicks_past_the_user_rate_limit_are_invalid(settings, redis_client):
    settings.IVT_CLICKS_PER_MINUTE_PER_USER = 2
    reasons = []
    for n in range(3):
        win = make_win()
        fire_impression(win, user_key="user-1", ip=f"203.0.113.{n}", at=T0)
        reasons.append(fire_click(win, user_key="user-1", ip=f"203.0.113.{n}", at=T0).ivt_reason)
    assert reasons == ["", "", "user_rate_limited"]


def test_the_user_key_can_come_from_the_win(settings, redis_client):
    # The engine may give Win a user_key of its own; tracking_urls then needs no argument.
    settings.IVT_IMPRESSIONS_PER_MINUTE_PER_USER = 1

    class WinWithUser:
        def __init__(self, win: Win) -> None:
            self.__dict__.update({name: getattr(win, name) for name in Win.__slots__})
            self.user_key = "user-9"

    # One fixed moment: rate limits count per minute, and two fires must not straddle a minute's end.
    at = timezone.now()
    outcomes = [fire_impression(WinWithUser(make_win()), ip=f"203.0.113.{n}", at=at) for n in range(2)]
    assert [o.ivt_reason for o in outcomes] == ["", "user_rate_limited"]


def test_the_event_time_is_the_callers(redis_client):
    at = datetime(2024, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)
    fire_impression(make_win(), at=at)
    assert stream(redis_client, "impression")[0]["at"] == 1735689599999
    with pytest.raises(ValueError, match="aware"):
        fire_impression(make_win(), at=datetime(2025, 1, 1))  # noqa: DTZ001


def test_an_address_that_is_not_an_ip_is_recorded_as_none(redis_client):
    assert fire_impression(make_win(), ip="unknown").counted
    assert stream(redis_client, "impression")[0]["ip"] is None


# Clicks ------------------------------------------------------------------------------------------


def test_a_click_counts_once_and_goes_to_the_stored_landing_url(redis_client):
    win = make_win()
    fire_impression(win)
    first = fire_click(win, at=T0)
    again = fire_click(win, at=T0)
    assert (first.landing_url, first.counted, first.ivt_reason, first.had_impression) == (
        LANDING,
        True,
        "",
        True,
    )
    assert (again.landing_url, again.counted, again.ivt_reason, again.recorded) == (
        LANDING,
        False,
        "duplicate",
        False,
    )
    events = stream(redis_client, "click")
    assert events == [
        {
            "event_id": win.event_id,
            "at": int(T0.timestamp() * 1000),
            "ip": IP,
            "user_agent": CHROME,
            "ivt_reason": "",
            "had_impression": True,
        }
    ]


def test_a_click_without_its_impression_is_flagged(redis_client):
    outcome = fire_click(make_win())
    assert (outcome.counted, outcome.ivt_reason, outcome.had_impression) == (
        False,
        "click_without_impression",
        False,
    )
    assert outcome.landing_url == LANDING  # the person still lands
    [event] = stream(redis_client, "click")
    assert (event["had_impression"], event["ivt_reason"]) == (False, "click_without_impression")


def test_a_click_long_after_its_impression_still_knows_it_had_one(redis_client):
    win = make_win()
    with time_machine.travel(T0, tick=False):
        urls = tracking_urls(win, BASE)
        record_impression(token_of(urls.impression_url), ip=IP, user_agent=CHROME)
    with time_machine.travel(T0 + timedelta(days=6), tick=False):
        outcome = record_click(token_of(urls.click_url), ip=IP, user_agent=CHROME)
    assert (outcome.counted, outcome.had_impression) == (True, True)
    ttl = redis_client.ttl(f"adwright:seen:imp:{win.event_id}")
    assert 7 * 86_400 < ttl <= 7 * 86_400 + 600


def test_an_expired_click_still_lands_but_is_invalid(redis_client):
    win = make_win()
    with time_machine.travel(T0, tick=False):
        urls = tracking_urls(win, BASE)
        record_impression(token_of(urls.impression_url), ip=IP, user_agent=CHROME)
    with time_machine.travel(T0 + timedelta(days=7, seconds=1), tick=False):
        outcome = record_click(token_of(urls.click_url), ip=IP, user_agent=CHROME)
    assert (outcome.landing_url, outcome.counted, outcome.ivt_reason) == (LANDING, False, "expired")


def test_a_bot_click_is_flagged(redis_client):
    win = make_win()
    fire_impression(win)
    outcome = fire_click(win, user_agent="curl/8.5.0")
    assert (outcome.counted, outcome.ivt_reason, outcome.landing_url) == (False, "non_browser", LANDING)


def test_the_landing_url_comes_from_the_index_and_else_from_the_database():
    group = live_ad_group()
    creative = group.creatives.get()
    fresh_index()
    assert engine.snapshot().creatives[creative.pk].landing_url == creative.landing_url
    # Changed in the database but not yet in the index: the index's copy is the one served.
    Creative.objects.filter(pk=creative.pk).update(landing_url="https://later.example/")
    assert landing_url(creative.pk) == creative.landing_url
    # Paused since (no longer in the index): the database answers.
    other = CreativeFactory(landing_url="https://paused.example/page")
    assert other.pk not in engine.snapshot().creatives
    assert landing_url(other.pk) == "https://paused.example/page"
    assert landing_url(10**12) == ""


def test_a_click_on_a_creative_that_no_longer_exists_records_nothing(redis_client):
    win = replace(make_win(), creative_id=10**12)
    outcome = fire_click(win)
    assert (outcome.landing_url, outcome.counted, outcome.recorded) == ("", False, False)
    assert redis_client.xlen(STREAM) == 0


# Notices -----------------------------------------------------------------------------------------


def notice_token(win: Win, notice: str) -> str:
    return token_of(notice_url(win, notice, BASE))


def test_notice_urls_leave_the_macros_for_the_exchange():
    win = make_win()
    assert notice_url(win, "win", BASE).endswith("?price=${AUCTION_PRICE}")
    assert notice_url(win, "billing", BASE).startswith(f"{BASE}/t/v1/n/billing/")
    assert notice_url(win, "loss", BASE).endswith("?price=${AUCTION_PRICE}&reason=${AUCTION_LOSS}")
    with pytest.raises(ValueError, match="notice"):
        notice_url(win, "click", BASE)


def test_a_notice_records_the_clearing_price_once(redis_client):
    win = make_win()
    token = notice_token(win, "win")
    first = record_notice(token, "win", price="1.2345", at=T0)
    again = record_notice(token, "win", price="0.10", at=T0)
    billing = record_notice(notice_token(win, "billing"), "billing", price="1.2345", at=T0)
    assert (first.recorded, first.price_cpm_micros) == (True, 1_234_500)
    assert (again.recorded, billing.recorded) == (False, True)
    assert stream(redis_client, "notice") == [
        {
            "event_id": win.event_id,
            "at": int(T0.timestamp() * 1000),
            "notice": notice,
            "price_cpm_micros": 1_234_500,
            "loss_reason": "",
        }
        for notice in ("win", "billing")
    ]


def test_the_price_may_equal_the_bid_but_not_pass_it(redis_client):
    assert (
        record_notice(notice_token(make_win(), "billing"), "billing", price="2.5").price_cpm_micros
        == 2_500_000
    )
    with pytest.raises(TrackingError) as exc_info:
        record_notice(notice_token(make_win(), "billing"), "billing", price="2.500001")
    assert exc_info.value.field == "price"


@pytest.mark.parametrize(
    "price",
    [None, "", "  ", "${AUCTION_PRICE}", "%24%7BAUCTION_PRICE%7D", "abc", "-1", "1e3", "NaN", "Infinity",
     "1,5", "1.1234567", "0x10", "١٢"],
)  # fmt: skip
def test_a_bad_or_unsubstituted_price_is_refused_and_records_nothing(redis_client, price):
    win = make_win()
    with pytest.raises(TrackingError) as exc_info:
        record_notice(notice_token(win, "win"), "win", price=price)
    assert exc_info.value.field == "price"
    assert redis_client.xlen(STREAM) == 0
    # Refused input does not use up the notice: the corrected one is recorded.
    assert record_notice(notice_token(win, "win"), "win", price="1").recorded


def test_a_loss_notice_may_withhold_its_price_and_reason(redis_client):
    win = make_win()
    outcome = record_notice(
        notice_token(win, "loss"), "loss", price="${AUCTION_PRICE}", loss_reason="${AUCTION_LOSS}"
    )
    assert (outcome.recorded, outcome.price_cpm_micros) == (True, None)
    other = make_win()
    # The winner's price is above our bid: that is why we lost.
    assert (
        record_notice(notice_token(other, "loss"), "loss", price="3.10", loss_reason="102").price_cpm_micros
        == 3_100_000
    )
    assert [(e["price_cpm_micros"], e["loss_reason"]) for e in stream(redis_client, "notice")] == [
        (None, ""),
        (3_100_000, "102"),
    ]
    with pytest.raises(TrackingError) as exc_info:
        record_notice(notice_token(make_win(), "loss"), "loss", price="1", loss_reason="lost")
    assert exc_info.value.field == "reason"


def test_a_notice_of_an_unknown_kind_or_for_another_kind_is_refused():
    win = make_win()
    with pytest.raises(TrackingError) as exc_info:
        record_notice(notice_token(win, "win"), "won", price="1")
    assert exc_info.value.field == "notice"
    with pytest.raises(BadToken):
        record_notice(notice_token(win, "win"), "billing", price="1")


def test_an_expired_notice_is_refused(redis_client):
    with time_machine.travel(T0, tick=False):
        token = notice_token(make_win(), "billing")
    with time_machine.travel(T0 + timedelta(days=8), tick=False), pytest.raises(BadToken):
        record_notice(token, "billing", price="1")
    assert redis_client.xlen(STREAM) == 0


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False))
def test_prices_parse_to_micros_exactly(price):
    assert parse_price_micros(f"{price:f}") == int(price * Decimal(1_000_000))
