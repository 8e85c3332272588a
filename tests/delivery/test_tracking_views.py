"""The tracking endpoints over HTTP: pixel, click redirect, notices, and bad input as 400s."""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest
import redis
from django.test import Client
from django.urls import include, path
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from delivery.events import STREAM
from delivery.serving import tracking_views
from delivery.serving.tracking_views import PIXEL
from delivery.tracking import notice_url, tracking_urls
from tests.delivery.test_tracking import CHROME, GOOGLEBOT, LANDING, make_win, stream

# The tracking URLs as the project mounts them (delivery/urls.py), in front of the project's own
# (the error pages link to them).
urlpatterns = [path("t/v1/", include("delivery.serving.tracking_urls")), path("", include("config.urls"))]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client"), pytest.mark.urls(__name__)]

BASE = "http://testserver"
IP = "198.51.100.23"


def get(url: str, *, user_agent: str = CHROME, client: Client | None = None, **extra):
    return (client or Client()).get(
        url.removeprefix(BASE), HTTP_USER_AGENT=user_agent, REMOTE_ADDR=IP, **extra
    )


def error_field(response) -> str:
    assert response["Content-Type"] == "application/json"
    return orjson.loads(response.content)["error"]["field"]


# The pixel ---------------------------------------------------------------------------------------


def test_the_pixel_is_a_transparent_gif_and_records_the_impression(redis_client):
    win = make_win()
    response = get(tracking_urls(win, BASE).impression_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response["Cache-Control"] == "no-store"
    assert response.content == PIXEL
    assert len(PIXEL) == 43
    [event] = stream(redis_client, "impression")
    assert (event["event_id"], event["ip"], event["user_agent"], event["ivt_reason"]) == (
        win.event_id,
        IP,
        CHROME,
        "",
    )


def test_a_bot_gets_the_same_pixel(redis_client):
    url = tracking_urls(make_win(), BASE).impression_url
    response = get(url, user_agent=GOOGLEBOT)
    assert (response.status_code, response.content) == (200, PIXEL)
    again = get(url)
    assert (again.status_code, again.content) == (200, PIXEL)
    assert [e["ivt_reason"] for e in stream(redis_client, "impression")] == ["crawler"]


def test_a_tampered_pixel_is_a_400_naming_the_token(redis_client):
    url = tracking_urls(make_win(), BASE).impression_url
    response = get(url.replace(".gif", "x.gif"))
    assert response.status_code == 400
    assert error_field(response) == "token"
    assert redis_client.xlen(STREAM) == 0


def test_the_pixel_is_only_for_get():
    url = tracking_urls(make_win(), BASE).impression_url.removeprefix(BASE)
    assert Client().post(url).status_code == 405


def test_without_redis_the_pixel_is_still_served(monkeypatch):
    def down(*args, **kwargs):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(tracking_views, "record_impression", down)
    response = get(tracking_urls(make_win(), BASE).impression_url)
    assert (response.status_code, response.content) == (200, PIXEL)


# The click ---------------------------------------------------------------------------------------


def test_a_click_redirects_to_the_stored_landing_url_only_with_its_click_id(redis_client):
    win = make_win()
    urls = tracking_urls(win, BASE)
    get(urls.impression_url)
    evil = quote("https://evil.example/", safe="")
    response = get(f"{urls.click_url}?url={evil}&next={evil}&redirect={evil}&landing_url={evil}&awclid=x")
    assert response.status_code == 302
    # The landing URL's own query kept, and the click's event id for conversions to send back.
    assert response["Location"] == f"{LANDING}&awclid={win.event_id}"
    assert response["Cache-Control"] == "no-store"
    [event] = stream(redis_client, "click")
    assert (event["ivt_reason"], event["had_impression"]) == ("", True)


def test_an_uncounted_click_still_lands(redis_client):
    win = make_win()
    urls = tracking_urls(win, BASE)
    first = get(urls.click_url)  # no impression before it
    again = get(urls.click_url, user_agent="python-requests/2.31.0")
    assert [r.status_code for r in (first, again)] == [302, 302]
    assert {r["Location"] for r in (first, again)} == {f"{LANDING}&awclid={win.event_id}"}
    assert [e["ivt_reason"] for e in stream(redis_client, "click")] == ["click_without_impression"]


def test_a_tampered_click_is_a_400_and_does_not_redirect(redis_client):
    url = tracking_urls(make_win(), BASE).click_url
    response = get(url[:-3] + "AAA" + f"?url={quote('https://evil.example/', safe='')}")
    assert response.status_code == 400
    assert "Location" not in response
    assert error_field(response) == "token"


def test_a_click_on_a_creative_that_is_gone_is_a_404():
    from dataclasses import replace

    response = get(tracking_urls(replace(make_win(), creative_id=10**12), BASE).click_url)
    assert response.status_code == 404


def test_without_redis_the_click_still_lands(monkeypatch):
    def down(*args, **kwargs):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(tracking_views, "record_click", down)
    win = make_win()
    response = get(tracking_urls(win, BASE).click_url)
    assert (response.status_code, response["Location"]) == (302, f"{LANDING}&awclid={win.event_id}")


def test_the_client_ip_behind_trusted_proxies(settings, redis_client):
    urls = [tracking_urls(make_win(), BASE).impression_url for _ in range(3)]
    forwarded = {"HTTP_X_FORWARDED_FOR": "10.9.9.9, 203.0.113.5, 192.0.2.1"}
    get(urls[0], **forwarded)  # no trusted proxy: the header is anyone's to write
    settings.TRUSTED_PROXY_COUNT = 2
    get(urls[1], **forwarded)
    settings.TRUSTED_PROXY_COUNT = 4  # more proxies than entries: not through ours
    get(urls[2], **forwarded)
    assert [e["ip"] for e in stream(redis_client, "impression")] == [IP, "203.0.113.5", IP]


# Notices -----------------------------------------------------------------------------------------


def exchange_fires(url: str, price: str = "1.5", reason: str = "102", method: str = "get"):
    """What an exchange does with a notice URL: substitute the macros, then call it."""
    url = url.replace("${AUCTION_PRICE}", price).replace("${AUCTION_LOSS}", reason).removeprefix(BASE)
    client = Client(enforce_csrf_checks=True)
    return getattr(client, method)(url, HTTP_USER_AGENT="Go-http-client/1.1", REMOTE_ADDR=IP)


def test_a_notice_is_recorded_once_however_often_fired(redis_client):
    win = make_win()
    url = notice_url(win, "billing", BASE)
    responses = [exchange_fires(url), exchange_fires(url, price="0.5"), exchange_fires(url, method="post")]
    assert [r.status_code for r in responses] == [204, 204, 204]
    assert [(e["notice"], e["price_cpm_micros"]) for e in stream(redis_client, "notice")] == [
        ("billing", 1_500_000)
    ]


def test_a_loss_notice(redis_client):
    assert exchange_fires(notice_url(make_win(), "loss", BASE), price="4.00", reason="102").status_code == 204
    assert exchange_fires(notice_url(make_win(), "loss", BASE), price="${AUCTION_PRICE}").status_code == 204
    assert [(e["price_cpm_micros"], e["loss_reason"]) for e in stream(redis_client, "notice")] == [
        (4_000_000, "102"),
        (None, "102"),
    ]


@pytest.mark.parametrize(
    ("price", "field"),
    [
        ("${AUCTION_PRICE}", "price"),
        ("", "price"),
        ("2.500001", "price"),
        ("-0.5", "price"),
        ("lots", "price"),
    ],
)
def test_a_bad_notice_price_is_a_400_naming_it(redis_client, price, field):
    response = exchange_fires(notice_url(make_win(), "win", BASE), price=price)
    assert response.status_code == 400
    assert error_field(response) == field
    assert redis_client.xlen(STREAM) == 0


def test_a_notice_with_a_literal_macro_as_sent(redis_client):
    # The exchange did not substitute: the URL arrives as we built it, macros percent-encoded or not.
    url = notice_url(make_win(), "win", BASE).removeprefix(BASE)
    for sent in (url, url.replace("${", "%24%7B").replace("}", "%7D")):
        response = Client().get(sent)
        assert (response.status_code, error_field(response)) == (400, "price")


def test_an_unknown_notice_or_a_bad_token_is_a_400_naming_it(redis_client):
    url = notice_url(make_win(), "win", BASE)
    response = exchange_fires(url.replace("/n/win/", "/n/won/"))
    assert (response.status_code, error_field(response)) == (400, "notice")
    response = exchange_fires(url.replace("/n/win/", "/n/billing/"))
    assert (response.status_code, error_field(response)) == (400, "token")
    response = exchange_fires(url.replace("?", "garbage?"))
    assert (response.status_code, error_field(response)) == (400, "token")
    assert redis_client.xlen(STREAM) == 0


# Garbage -----------------------------------------------------------------------------------------


@hypothesis_settings(
    max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(segment=st.text(min_size=1, max_size=200), query=st.text(max_size=100))
def test_no_garbage_is_a_500(redis_client, segment, query):
    token = quote(segment, safe="")
    client = Client(raise_request_exception=False)
    for url in (
        f"/t/v1/i/{token}.gif",
        f"/t/v1/c/{token}",
        f"/t/v1/n/win/{token}",
        f"/t/v1/n/{token}/{token}",
    ):
        response = client.get(url, {"price": query, "reason": query}, HTTP_USER_AGENT=query)
        assert response.status_code in (400, 404), url
    assert redis_client.xlen(STREAM) == 0
