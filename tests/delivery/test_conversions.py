"""Conversions in: the intake's checks, de-duplication (also under concurrency), attribution to clicks
and impressions (from Redis, and from the event tables when Redis has lost them), and the postback
and pixel endpoints with their authentication."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import orjson
import pytest
import redis
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import Role
from campaigns.models import Conversion, ConversionEvent, Creative
from delivery import conversions as intake
from delivery.conversions import ConversionError, receive, remember_click, remember_impression
from delivery.event_rows import decided_ms
from delivery.events import new_event_id
from delivery.hot import redis_client as hot_redis
from delivery.models import ClickEvent, DecisionEvent
from delivery.models.events import ensure_partitions
from delivery.serving import conversion_views
from delivery.serving.tracking_views import PIXEL, with_click_id
from delivery.tracking import tracking_urls
from tests.delivery.test_tracking import CHROME, make_win
from tests.factories import AdvertiserFactory, ConversionEventFactory, CreativeFactory, issue_api_key

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
USER = "user-42"


@pytest.fixture
def event() -> ConversionEvent:
    return ConversionEventFactory(name="Purchase", click_window_days=7, view_window_days=1)


@pytest.fixture
def creative(event) -> Creative:
    return CreativeFactory(ad_group__campaign__advertiser=event.advertiser)


def send(event: ConversionEvent, event_id: str = "order-1", **fields):
    values = {
        "occurred_at": None,
        "value": None,
        "currency": None,
        "click_id": None,
        "user_key": None,
        "source": "postback",
        "now": NOW,
    }
    return receive(event=event, event_id=event_id, **(values | fields))


def remember(kind: str, creative: Creative, *, at: datetime, user_key: str = USER, event_id: str = "") -> str:
    """What the tracking code writes for a counted impression or click; returns its event id."""
    event_id = event_id or new_event_id(at)
    pipe = hot_redis().pipeline(transaction=False)
    (remember_click if kind == "click" else remember_impression)(
        pipe,
        advertiser_id=creative.advertiser_id,
        campaign_id=creative.ad_group.campaign_id,
        ad_group_id=creative.ad_group_id,
        creative_id=creative.pk,
        event_id=event_id,
        user_key=user_key,
        at=at,
    )
    pipe.execute()
    return event_id


# Checks: each refusal names its field ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        ("event_id", {"event_id": None}),
        ("event_id", {"event_id": "  "}),
        ("event_id", {"event_id": "x" * 129}),
        ("event_id", {"event_id": "order\x00-1"}),
        ("event_id", {"event_id": "{event_id}"}),
        ("time", {"occurred_at": "yesterday"}),
        ("time", {"occurred_at": "2025-03-04T11:00:00"}),  # no offset
        ("time", {"occurred_at": "2025-02-25T11:59:00Z"}),  # more than 7 days ago
        ("time", {"occurred_at": str(int((NOW - timedelta(days=8)).timestamp()))}),
        ("time", {"occurred_at": "2025-03-04T12:06:00Z"}),  # in the future
        ("time", {"occurred_at": "9" * 16}),
        ("time", {"occurred_at": True}),
        ("value", {"value": "lots"}),
        ("value", {"value": "-1"}),
        ("value", {"value": "1.0000001"}),
        ("value", {"value": "1,250.00"}),
        ("value", {"value": "1e3"}),
        ("value", {"value": "NaN"}),
        ("value", {"value": "1000000000.01"}),
        ("value", {"value": True}),
        ("value", {"value": 1.5}),  # a float: never for money
        ("value", {"value": "{value}"}),
        ("currency", {"currency": "EUR"}),
        ("click_id", {"click_id": "not-a-click"}),
        ("click_id", {"click_id": "{click_id}"}),
        ("click_id", {"click_id": 12}),
        ("user_key", {"user_key": "u" * 201}),
        ("user_key", {"user_key": "a\nb"}),
    ],
)
def test_each_refusal_names_its_field(event, field, fields):
    with pytest.raises(ConversionError) as refused:
        send(event, **({"event_id": "order-1"} | fields))

    assert refused.value.field == field
    assert list(refused.value.errors) == [field]
    assert refused.value.message
    assert not Conversion.objects.exists()


def test_an_event_turned_off_is_refused_naming_the_event(event):
    event.is_active = False
    event.save()

    with pytest.raises(ConversionError) as refused:
        send(event)

    assert refused.value.field == "event"
    assert not Conversion.objects.exists()


def test_every_wrong_field_is_named_at_once(event):
    with pytest.raises(ConversionError) as refused:
        send(event, event_id="", occurred_at="soon", value="-3", currency="EUR")

    assert set(refused.value.errors) == {"event_id", "time", "value", "currency"}


@pytest.mark.parametrize(
    ("sent", "micros"),
    [
        ("59.90", 59_900_000),
        ("0.000001", 1),
        ("12", 12_000_000),
        (12, 12_000_000),
        (Decimal("3.25"), 3_250_000),
        ("0", 0),
        ("7.", 7_000_000),
        (".5", 500_000),
        ("1000000000", 1_000_000_000_000_000),
        ("2.5000000", 2_500_000),  # zeros past the sixth decimal change nothing
    ],
)
def test_values_become_exact_micros(event, sent, micros):
    assert send(event, value=sent).conversion.value_micros == micros


def test_without_a_value_the_events_default_counts(event):
    event.default_value_micros = 12_500_000
    event.save()

    assert send(event, "a", value=None).conversion.value_micros == 12_500_000
    assert send(event, "b", value="").conversion.value_micros == 12_500_000
    assert send(event, "c", value="3").conversion.value_micros == 3_000_000


@pytest.mark.parametrize(
    "sent",
    [
        "2025-03-04T10:30:00Z",
        "2025-03-04T11:30:00+01:00",
        "2025-03-04T11:30:00 01:00",  # a query string's "+" read as a space
        "2025-03-04T05:30:00-05:00",
        str(int(datetime(2025, 3, 4, 10, 30, tzinfo=UTC).timestamp())),
        str(int(datetime(2025, 3, 4, 10, 30, tzinfo=UTC).timestamp()) * 1000),
        int(datetime(2025, 3, 4, 10, 30, tzinfo=UTC).timestamp()),
        datetime(2025, 3, 4, 10, 30, tzinfo=UTC),
    ],
)
def test_times_in_iso_8601_or_epoch_seconds_or_milliseconds(event, sent):
    assert send(event, occurred_at=sent).conversion.occurred_at == datetime(2025, 3, 4, 10, 30, tzinfo=UTC)


def test_a_time_at_the_limits_is_accepted(event):
    assert send(event, "old", occurred_at=NOW - timedelta(days=7)).conversion.occurred_at == NOW - timedelta(
        days=7
    )
    ahead = NOW + timedelta(minutes=5)
    assert send(event, "ahead", occurred_at=ahead).conversion.occurred_at == ahead
    assert send(event, "now").conversion.occurred_at == NOW


def test_what_is_stored(event):
    click_id = uuid.uuid4()
    received = send(
        event,
        "order-9",
        value="19.99",
        currency="usd",
        click_id=str(click_id).upper(),
        user_key=USER,
        ip="203.0.113.9",
    )

    conversion = Conversion.objects.get()
    assert received.conversion == conversion
    assert not received.duplicate
    assert (conversion.advertiser_id, conversion.conversion_event_id) == (event.advertiser_id, event.pk)
    assert (conversion.event_id, conversion.value_micros, conversion.currency) == (
        "order-9",
        19_990_000,
        "USD",
    )
    assert (conversion.click_id, conversion.user_key, conversion.ip) == (click_id, USER, "203.0.113.9")
    assert (conversion.occurred_at, conversion.received_at) == (NOW, NOW)
    assert (conversion.source, conversion.test, conversion.attribution) == ("postback", False, "none")


# De-duplication ------------------------------------------------------------------------------------


def test_the_same_event_id_twice_is_one_conversion(event):
    first = send(event, "order-1", value="10")
    again = send(event, "order-1", value="99")

    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.conversion.pk == first.conversion.pk
    assert again.conversion.value_micros == 10_000_000
    assert Conversion.objects.count() == 1


def test_the_same_event_id_for_another_event_is_another_conversion(event):
    other = ConversionEventFactory(advertiser=event.advertiser, name="Sign-up")
    send(event, "order-1")
    assert not send(other, "order-1").duplicate
    assert Conversion.objects.count() == 2


def test_the_same_click_at_the_same_time_is_a_duplicate(event):
    click_id = str(uuid.uuid4())
    first = send(event, "order-1", click_id=click_id, occurred_at="2025-03-04T11:00:00Z")
    again = send(event, "order-2", click_id=click_id, occurred_at="2025-03-04T11:00:00Z")
    later = send(event, "order-3", click_id=click_id, occurred_at="2025-03-04T11:00:01Z")

    assert again.duplicate
    assert again.conversion.pk == first.conversion.pk
    assert not later.duplicate  # counted every time: a second purchase after the same click
    assert Conversion.objects.count() == 2


def test_an_event_counted_once_per_click_takes_one_conversion_per_click(event, creative):
    event.counting = ConversionEvent.Counting.ONE
    event.save()
    click = remember("click", creative, at=NOW - timedelta(hours=2))

    first = send(event, "lead-1", click_id=click, occurred_at=NOW - timedelta(hours=1))
    again = send(event, "lead-2", click_id=click, occurred_at=NOW - timedelta(minutes=30))
    by_user = send(event, "lead-3", user_key=USER)  # the same user's last click: the same click
    unknown = str(uuid.uuid4())
    other = send(event, "lead-4", click_id=unknown)
    other_again = send(event, "lead-5", click_id=unknown, occurred_at=NOW - timedelta(minutes=1))

    assert (first.duplicate, again.duplicate, by_user.duplicate) == (False, True, True)
    assert first.conversion.attribution == "click"
    assert again.conversion.pk == by_user.conversion.pk == first.conversion.pk
    assert (other.duplicate, other_again.duplicate) == (False, True)
    assert Conversion.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_twenty_identical_postbacks_at_once_make_one_conversion(event, creative):
    click = remember("click", creative, at=NOW - timedelta(hours=1))
    start = threading.Barrier(20)

    def postback(_: int) -> tuple[bool, int]:
        try:
            start.wait()
            received = send(event, "order-77", value="59.90", click_id=click)
            return received.duplicate, received.conversion.pk
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(postback, range(20)))

    assert Conversion.objects.count() == 1
    conversion = Conversion.objects.get()
    assert sorted(duplicate for duplicate, _ in results) == [False] + [True] * 19
    assert {pk for _, pk in results} == {conversion.pk}
    assert (conversion.attribution, conversion.campaign_id) == ("click", creative.ad_group.campaign_id)


@pytest.mark.django_db(transaction=True)
def test_twenty_identical_postbacks_over_http_make_one_conversion(live_server, event):
    query = urlencode({"token": event.token, "event_id": "order-88", "value": "5.00"})
    url = f"{live_server.url}/t/conversions"
    start = threading.Barrier(20)

    def postback(_: int) -> tuple[int, dict]:
        request = urllib.request.Request(url, data=query.encode(), method="POST")  # noqa: S310 - the live server
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        start.wait()
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, orjson.loads(response.read())

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(postback, range(20)))

    assert Conversion.objects.count() == 1
    conversion = Conversion.objects.get()
    assert sorted(status for status, _ in results) == [200] * 19 + [201]
    assert sorted(body["duplicate"] for _, body in results) == [False] + [True] * 19
    assert {body["conversion_id"] for _, body in results} == {conversion.pk}


# Attribution ---------------------------------------------------------------------------------------


def test_a_click_within_the_window_gets_the_conversion(event, creative):
    clicked_at = NOW - timedelta(days=6)
    click = remember("click", creative, at=clicked_at)

    conversion = send(event, click_id=click).conversion

    assert conversion.attribution == "click"
    assert str(conversion.attributed_event_id) == click
    assert conversion.campaign_id == creative.ad_group.campaign_id
    assert (conversion.ad_group_id, conversion.creative_id) == (creative.ad_group_id, creative.pk)
    assert conversion.touch_at == clicked_at


def test_a_click_outside_the_window_falls_to_the_users_impression_or_none(event, creative):
    old_click = remember("click", creative, at=NOW - timedelta(days=8))

    assert send(event, "a", click_id=old_click).conversion.attribution == "none"

    seen = remember("impression", creative, at=NOW - timedelta(hours=3))
    # The click's user, seen since (a minute later: the same click at the same time is a duplicate).
    conversion = send(event, "b", click_id=old_click, occurred_at=NOW - timedelta(minutes=1)).conversion
    assert (conversion.attribution, str(conversion.attributed_event_id)) == ("view", seen)


def test_a_click_after_the_conversion_is_not_credited(event, creative):
    click = remember("click", creative, at=NOW - timedelta(hours=1))

    conversion = send(event, click_id=click, occurred_at=NOW - timedelta(hours=2)).conversion

    assert conversion.attribution == "none"


def test_without_a_click_id_the_users_last_click_before_the_conversion(event, creative):
    older = remember("click", creative, at=NOW - timedelta(days=2))
    last = remember("click", creative, at=NOW - timedelta(days=1))
    remember("click", creative, at=NOW - timedelta(minutes=10))  # after the conversion
    remember("impression", creative, at=NOW - timedelta(hours=5))

    conversion = send(event, user_key=USER, occurred_at=NOW - timedelta(hours=1)).conversion

    assert (conversion.attribution, str(conversion.attributed_event_id)) == ("click", last)
    assert str(conversion.attributed_event_id) != older


def test_view_through_within_the_view_window(event, creative):
    seen = remember("impression", creative, at=NOW - timedelta(hours=20))

    conversion = send(event, "a", user_key=USER).conversion

    assert (conversion.attribution, str(conversion.attributed_event_id)) == ("view", seen)
    assert conversion.touch_at == NOW - timedelta(hours=20)
    assert send(event, "b", user_key="someone-else").conversion.attribution == "none"


def test_an_impression_outside_the_view_window_is_not_credited(event, creative):
    remember("impression", creative, at=NOW - timedelta(days=1, minutes=1))

    assert send(event, user_key=USER).conversion.attribution == "none"


def test_a_view_window_of_zero_turns_view_through_off(event, creative):
    event.view_window_days = 0
    event.save()
    remember("impression", creative, at=NOW - timedelta(minutes=5))

    assert send(event, user_key=USER).conversion.attribution == "none"


def test_another_advertisers_click_is_never_credited(event, creative):
    theirs = CreativeFactory(ad_group__campaign__advertiser=AdvertiserFactory())
    their_click = remember("click", theirs, at=NOW - timedelta(hours=1))
    remember("impression", theirs, at=NOW - timedelta(hours=1))

    named = send(event, "a", click_id=their_click).conversion
    by_user = send(event, "b", user_key=USER).conversion

    assert (named.attribution, by_user.attribution) == ("none", "none")
    assert named.campaign_id is None


def test_a_test_conversion_is_never_attributed_nor_counted(event, creative):
    click = remember("click", creative, at=NOW - timedelta(hours=1))

    test = send(event, "test-1", click_id=click, source="test", test=True).conversion
    real = send(event, "order-1", click_id=click, occurred_at=NOW - timedelta(minutes=1)).conversion

    assert (test.attribution, test.campaign_id, test.test) == ("none", None, True)
    assert list(Conversion.objects.counted()) == [real]


def test_the_conversions_counted_are_the_attributed_ones_with_their_value(event, creative):
    other = CreativeFactory(ad_group__campaign__advertiser=event.advertiser)
    for n, value in enumerate(["10.00", "2.50", None]):
        send(event, f"a{n}", value=value, click_id=remember("click", creative, at=NOW - timedelta(hours=1)))
    send(event, "b", value="1", click_id=remember("click", other, at=NOW - timedelta(hours=1)))
    send(event, "unattributed", value="100")
    send(event, "test", value="100", source="test", test=True)
    campaign_id = creative.ad_group.campaign_id

    counted = Conversion.objects.counted()
    assert {c.campaign_id for c in counted} == {campaign_id, other.ad_group.campaign_id}
    mine = counted.filter(campaign_id=campaign_id)
    assert (mine.count(), sum(c.value_micros or 0 for c in mine)) == (3, 12_500_000)
    assert not counted.occurred_between(NOW - timedelta(days=3), NOW - timedelta(days=2)).exists()
    assert Conversion.objects.converted_clicks().count() == 4  # the pCVR model's positive labels


def test_redis_keeps_only_the_users_recent_touches(creative):
    for minutes in range(intake.RECENT_TOUCHES + 5):
        remember("impression", creative, at=NOW - timedelta(minutes=minutes))
    key = f"adwright:conv:views:{creative.advertiser_id}:{USER}"
    client = hot_redis()
    assert client.zcard(key) == intake.RECENT_TOUCHES
    assert 0 < client.ttl(key) <= intake.IMPRESSION_TTL_SECONDS
    click = remember("click", creative, at=NOW)
    assert 0 < client.ttl(f"adwright:conv:click:{click}") <= intake.CLICK_TTL_SECONDS


# The event tables when Redis has lost the click --------------------------------------------------


def store_click(creative: Creative, *, at: datetime, ivt_reason: str = "", test: bool = False) -> str:
    """A decision and its click as ingestion writes them into the day-partitioned tables."""
    event_id = new_event_id(at - timedelta(seconds=30))
    decided = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=decided_ms(event_id))
    ensure_partitions([decided.date()])
    DecisionEvent.objects.create(
        event_id=event_id,
        decided_at=decided,
        at=decided,
        request_id="request-1",
        source="decision_api",
        slot_id="slot-1",
        placement_id=None,
        advertiser_id=creative.advertiser_id,
        campaign_id=creative.ad_group.campaign_id,
        ad_group_id=creative.ad_group_id,
        creative_id=creative.pk,
        user_key=USER,
        country="US",
        device_type="desktop",
        os="windows",
        bid_cpm_micros=2_500_000,
        price_cpm_micros=2_000_000,
        price_micros=2_000,
        currency="USD",
        billing_event="impression",
        pctr=0.01,
        pcvr=0.001,
        test=test,
    )
    ClickEvent.objects.create(
        event_id=event_id,
        decided_at=decided,
        at=at,
        ip="198.51.100.23",
        user_agent="Mozilla/5.0",
        ivt_reason=ivt_reason,
        had_impression=True,
    )
    return event_id


def test_a_click_redis_lost_is_found_in_the_event_tables(event, creative, redis_client):
    clicked_at = NOW - timedelta(days=2)
    click = store_click(creative, at=clicked_at)
    remember("click", creative, at=clicked_at, event_id=click)
    redis_client.flushdb()

    conversion = send(event, click_id=click).conversion

    assert (conversion.attribution, str(conversion.attributed_event_id)) == ("click", click)
    assert (conversion.campaign_id, conversion.touch_at) == (creative.ad_group.campaign_id, clicked_at)


@pytest.mark.parametrize("stored", [{"ivt_reason": "non_browser"}, {"test": True}])
def test_an_invalid_or_test_click_in_the_event_tables_is_not_credited(event, creative, stored):
    click = store_click(creative, at=NOW - timedelta(hours=1), **stored)

    assert send(event, click_id=click).conversion.attribution == "none"


def test_another_advertisers_click_in_the_event_tables_is_not_credited(event):
    theirs = CreativeFactory(ad_group__campaign__advertiser=AdvertiserFactory())
    click = store_click(theirs, at=NOW - timedelta(hours=1))

    assert send(event, click_id=click).conversion.attribution == "none"


def test_without_redis_the_conversion_is_stored_and_attributed_from_the_event_tables(
    event, creative, monkeypatch
):
    click = store_click(creative, at=NOW - timedelta(hours=1))
    nowhere = redis.Redis(unix_socket_path="/nonexistent/redis.sock", socket_connect_timeout=0.2)
    monkeypatch.setattr(intake, "redis_client", lambda: nowhere)

    by_click = send(event, "a", click_id=click).conversion
    by_user = send(event, "b", user_key=USER).conversion

    assert (by_click.attribution, by_user.attribution) == ("click", "none")
    assert Conversion.objects.count() == 2


# The postback endpoint -----------------------------------------------------------------------------


def post(data: dict | str | bytes, *, query: str = "", content_type: str = "application/json", **extra):
    body = data if isinstance(data, str | bytes) else json.dumps(data)
    return Client(enforce_csrf_checks=True).post(
        f"/t/conversions{query}", body, content_type=content_type, **extra
    )


def errors(response) -> dict:
    assert response["Content-Type"] == "application/json"
    return orjson.loads(response.content)["errors"]


def test_a_json_postback_then_its_duplicate(event, creative):
    click = remember("click", creative, at=timezone.now() - timedelta(hours=1))
    data = {"token": event.token, "event_id": "order-1", "value": 59.90, "click_id": click}

    first = post(data)
    again = post(data)

    assert first.status_code == 201
    conversion = Conversion.objects.get()
    assert orjson.loads(first.content) == {
        "conversion_id": conversion.pk,
        "duplicate": False,
        "attribution": "click",
        "campaign_id": creative.ad_group.campaign_id,
        "test": False,
    }
    assert conversion.value_micros == 59_900_000  # a JSON number, read as a decimal: exact
    assert conversion.source == "postback"
    assert again.status_code == 200
    assert orjson.loads(again.content)["duplicate"] is True
    assert orjson.loads(again.content)["conversion_id"] == conversion.pk
    assert first["Cache-Control"] == "no-store"


def test_a_form_encoded_postback_with_the_token_in_the_query(event):
    response = post(
        "event_id=order-2&value=10.5&time=" + quote(timezone.now().isoformat()),
        query=f"?token={event.token}",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 201
    assert Conversion.objects.get().value_micros == 10_500_000


def test_a_get_postback_as_affiliate_networks_send_them(event):
    query = urlencode({"token": event.token, "event_id": "order-3", "value": "7", "currency": "USD"})

    response = Client().get(f"/t/conversions?{query}", REMOTE_ADDR="203.0.113.7")

    assert response.status_code == 201
    assert (Conversion.objects.get().event_id, Conversion.objects.get().ip) == ("order-3", "203.0.113.7")
    assert Client().get(f"/t/conversions?{query}").status_code == 200


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"time": (timezone.now() - timedelta(days=8)).isoformat()}, "time"),
        ({"time": (timezone.now() + timedelta(hours=1)).isoformat()}, "time"),
        ({"value": "12,50"}, "value"),
        ({"value": [1]}, "value"),
        ({"currency": "EUR"}, "currency"),
        ({"click_id": "abc"}, "click_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": {"nested": 1}}, "event_id"),
    ],
)
def test_a_bad_postback_is_a_400_naming_the_field(event, fields, field):
    response = post({"token": event.token, "event_id": "order-1", **fields})

    assert response.status_code == 400
    assert list(errors(response)) == [field]
    assert not Conversion.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('{"value": NaN}', "application/json"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(event, body, content_type):
    response = post(body, query=f"?token={event.token}", content_type=content_type)

    assert (response.status_code, list(errors(response))) == (400, ["body"])


def test_a_json_body_sent_as_text_plain_is_read(event):
    response = post({"token": event.token, "event_id": "order-1"}, content_type="text/plain")

    assert response.status_code == 201


@pytest.mark.parametrize("token", [None, "", "x" * 32, "short", "a\x00" * 20])
def test_a_postback_without_a_valid_token_is_a_401(event, token):
    data = {"event_id": "order-1"} | ({"token": token} if token is not None else {})

    response = post(data)

    assert response.status_code == 401
    assert list(errors(response)) == ["token"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Conversion.objects.exists()


def test_an_event_turned_off_refuses_postbacks(event):
    event.is_active = False
    event.save()

    response = post({"token": event.token, "event_id": "order-1"})

    assert (response.status_code, list(errors(response))) == (400, ["event"])


def test_only_get_and_post(event):
    assert Client().put(f"/t/conversions?token={event.token}&event_id=1").status_code == 405


def test_with_the_database_away_the_sender_is_told_to_retry(event, monkeypatch):
    def away(**kwargs):
        raise OperationalError("the database is restarting")

    monkeypatch.setattr(conversion_views, "receive", away)

    response = post({"token": event.token, "event_id": "order-1"})
    pixel = Client().get(f"/t/px/{event.token}?event_id=order-1")

    assert (response.status_code, response["Retry-After"], list(errors(response))) == (
        503,
        "60",
        ["database"],
    )
    assert (pixel.status_code, pixel.content) == (503, PIXEL)


# API keys ------------------------------------------------------------------------------------------


def with_key(token: str, data: dict):
    return post(data, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
def test_a_manager_or_admin_key_names_the_event_by_name_or_id(event, role):
    _, token = issue_api_key(advertiser=event.advertiser, role=role)

    by_name = with_key(token, {"event": "purchase", "event_id": "order-1"})
    by_id = with_key(token, {"event": event.pk, "event_id": "order-2"})
    by_token = with_key(token, {"token": event.token, "event_id": "order-3"})

    assert [r.status_code for r in (by_name, by_id, by_token)] == [201, 201, 201]
    assert Conversion.objects.filter(conversion_event=event).count() == 3


def test_an_agency_key_picks_the_account_when_names_repeat(event):
    sister = AdvertiserFactory(agency=event.advertiser.agency)
    ConversionEventFactory(advertiser=sister, name="Purchase")
    _, token = issue_api_key(agency=event.advertiser.agency, role=Role.MANAGER)

    ambiguous = with_key(token, {"event": "Purchase", "event_id": "order-1"})
    picked = with_key(token, {"event": "Purchase", "advertiser": event.advertiser_id, "event_id": "order-1"})

    assert (ambiguous.status_code, list(errors(ambiguous))) == (400, ["event"])
    assert picked.status_code == 201
    assert Conversion.objects.get().conversion_event == event


def test_an_analyst_key_is_a_403(event):
    _, token = issue_api_key(advertiser=event.advertiser, role=Role.ANALYST)

    response = with_key(token, {"event": "Purchase", "event_id": "order-1"})

    assert response.status_code == 403
    assert not Conversion.objects.exists()


def test_a_key_cannot_report_another_accounts_event(event):
    _, token = issue_api_key(advertiser=AdvertiserFactory(), role=Role.ADMIN)

    for data in ({"event": event.pk}, {"event": "Purchase"}, {"token": event.token}):
        response = with_key(token, {**data, "event_id": "order-1"})
        assert response.status_code == 404, data
    assert not Conversion.objects.exists()


def test_a_revoked_or_unknown_key_is_a_401(event):
    key, token = issue_api_key(advertiser=event.advertiser, role=Role.ADMIN)
    key.revoke()

    for header in (f"Bearer {token}", "Bearer adw_nope_nope", "Basic abc", "Bearer a b"):
        response = post({"event": "Purchase", "event_id": "order-1"}, HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Conversion.objects.exists()


def test_a_key_without_an_event_is_a_400_naming_it(event):
    _, token = issue_api_key(advertiser=event.advertiser, role=Role.ADMIN)

    response = with_key(token, {"event_id": "order-1"})

    assert (response.status_code, list(errors(response))) == (400, ["event"])


# The pixel -----------------------------------------------------------------------------------------


def test_the_pixel_records_and_answers_a_gif(event):
    query = urlencode({"event_id": "order-1", "value": "5", "user_key": USER})
    client = Client()

    first = client.get(f"/t/px/{event.token}?{query}")
    again = client.get(f"/t/px/{event.token}?{query}")

    for response in (first, again):
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif"
        assert response["Cache-Control"] == "no-store"
        assert response.content == PIXEL
        assert "X-Adwright-Error" not in response
    conversion = Conversion.objects.get()
    assert (conversion.source, conversion.user_key, conversion.value_micros) == ("pixel", USER, 5_000_000)
    assert not client.cookies


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("{token}", {"value": "5"}, "event_id"),
        ("{token}", {"event_id": "1", "time": "2001-01-01T00:00:00Z"}, "time"),
        ("{token}", {"event_id": "1", "value": "€5"}, "value"),
        ("not-a-real-token-at-all", {"event_id": "1"}, "token"),
    ],
)
def test_a_refused_pixel_is_still_a_gif_with_the_reason_in_a_header(event, path, query, field):
    response = Client().get(f"/t/px/{path.format(token=event.token)}?{urlencode(query)}")

    assert response.status_code == 400
    assert response.content == PIXEL
    assert response["X-Adwright-Error"].startswith(f"{field}: ")
    assert response["X-Adwright-Error"].isascii()
    assert not Conversion.objects.exists()


# The click id in the landing URL -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("landing", "expected"),
    [
        ("https://shop.example/p", "https://shop.example/p?awclid=ID"),
        (
            "https://shop.example/p?utm_source=ad%20x&b=",
            "https://shop.example/p?utm_source=ad%20x&b=&awclid=ID",
        ),
        ("https://shop.example/p?a=1#reviews", "https://shop.example/p?a=1&awclid=ID#reviews"),
        ("https://shop.example/p?awclid=stale&a=1", "https://shop.example/p?a=1&awclid=ID"),
    ],
)
def test_the_click_id_is_added_to_the_landing_url(landing, expected):
    assert with_click_id(landing, "ID") == expected


def test_the_awclid_of_a_click_redirect_sent_back_attributes_the_conversion(event, creative):
    win = make_win(creative)
    urls = tracking_urls(win, "http://testserver")
    browser = Client(HTTP_USER_AGENT=CHROME)
    browser.get(urls.impression_url.removeprefix("http://testserver"))
    landed = browser.get(urls.click_url.removeprefix("http://testserver"))
    awclid = parse_qs(urlsplit(landed["Location"]).query)["awclid"][0]
    # What the tracking code records for the counted click (delivery.tracking).
    remember("click", creative, at=timezone.now(), event_id=win.event_id)

    response = post({"token": event.token, "event_id": "order-1", "click_id": awclid})

    assert awclid == win.event_id
    assert response.status_code == 201
    assert orjson.loads(response.content)["attribution"] == "click"
    assert Conversion.objects.get().campaign_id == creative.ad_group.campaign_id


# Garbage -------------------------------------------------------------------------------------------


@hypothesis_settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(
    values=st.dictionaries(
        st.sampled_from(
            ["event_id", "time", "value", "currency", "click_id", "user_key", "event", "advertiser"]
        ),
        st.one_of(
            st.text(max_size=60),
            st.integers(),
            st.floats(),
            st.booleans(),
            st.none(),
            st.lists(st.integers()),
        ),
    ),
    token=st.text(max_size=80),
)
def test_no_garbage_is_a_500(event, values, token):
    client = Client(raise_request_exception=False)
    _, key = issue_api_key(advertiser=event.advertiser, role=Role.ADMIN)
    for sent_token in (token, event.token):
        body = {**values, "token": sent_token}
        responses = [
            client.post("/t/conversions", json.dumps(body), content_type="application/json"),
            client.post(
                "/t/conversions",
                json.dumps(values),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {key}",
            ),
            client.get("/t/conversions", {k: str(v) for k, v in body.items()}),
            client.get(f"/t/px/{quote(sent_token, safe='') or 'x'}", {k: str(v) for k, v in values.items()}),
        ]
        for response in responses:
            assert response.status_code in (200, 201, 400, 401, 403, 404), response.content[:300]
