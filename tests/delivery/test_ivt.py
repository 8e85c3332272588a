"""Invalid-traffic filtering (delivery.ivt): user agents, rate limits, the daily counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import crawleruseragents
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from delivery import ivt
from delivery.ivt import classify, ip_scope, user_agent_reason

T0 = datetime(2025, 3, 4, 12, 0, 5, tzinfo=UTC)

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
    "Chrome/124.0.6367.82 Mobile Safari/537.36",  # an app's WebView
    "Shop/4.2.1 (Android 14; Pixel 8) okhttp/4.12.0",  # an app that names itself before its HTTP library
    "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP1A.240405.002)",
]


@pytest.mark.parametrize("user_agent", BROWSERS)
def test_browsers_and_apps_are_valid(user_agent):
    assert user_agent_reason(user_agent) == ""


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
        "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/124.0.0.0 Safari/537.36",
    ],
)
def test_known_crawlers_are_invalid(user_agent):
    assert user_agent_reason(user_agent) == "crawler"


@pytest.mark.parametrize(
    "user_agent",
    ["", "   ", "python-requests/2.31.0", "curl/8.5.0", "Wget/1.21.4", "Go-http-client/2.0", "Java/17.0.2",
     "okhttp/4.12.0", "Python/3.12 aiohttp/3.9.5", "node", "axios/1.6.8", "PostmanRuntime/7.37.3"],
)  # fmt: skip
def test_non_browser_agents_are_invalid(user_agent):
    assert user_agent_reason(user_agent) == "non_browser"


def test_every_example_of_the_maintained_list_is_caught():
    missed = [
        instance
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        if entry["pattern"] != "okhttp"  # judged by the non-browser prefixes instead
        for instance in entry.get("instances", [])
        if not user_agent_reason(instance)
    ]
    assert missed == []


@given(st.text(max_size=2000))
def test_any_agent_has_an_answer(user_agent):
    assert user_agent_reason(user_agent) in {"", "crawler", "non_browser"}


def test_ip_scopes():
    assert ip_scope("198.51.100.7") == "198.51.100.7"
    assert ip_scope(" 198.51.100.7 ") == "198.51.100.7"
    assert ip_scope("::ffff:198.51.100.7") == "198.51.100.7"
    assert ip_scope("2001:db8:1:2:aaaa::1") == ip_scope("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert ip_scope("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert ip_scope("") == ip_scope("nonsense") == ""


CHROME = BROWSERS[0]


@pytest.mark.usefixtures("redis_client")
class TestRateLimits:
    def test_per_ip_per_minute(self, settings):
        settings.IVT_IMPRESSIONS_PER_MINUTE_PER_IP = 2
        hits = [
            classify("198.51.100.7", CHROME, user_key=f"u{n}", kind="impression", at=T0) for n in range(3)
        ]
        assert hits == ["", "", "ip_rate_limited"]
        assert classify("198.51.100.8", CHROME, user_key="u9", kind="impression", at=T0) == ""
        # Clicks are counted apart from impressions, and the next minute starts again.
        assert classify("198.51.100.7", CHROME, user_key="u9", kind="click", at=T0) == ""
        assert (
            classify("198.51.100.7", CHROME, user_key="u9", kind="impression", at=T0 + timedelta(minutes=1))
            == ""
        )

    def test_per_user_per_minute(self, settings):
        settings.IVT_CLICKS_PER_MINUTE_PER_USER = 1
        assert classify("198.51.100.1", CHROME, user_key="u1", kind="click", at=T0) == ""
        assert classify("198.51.100.2", CHROME, user_key="u1", kind="click", at=T0) == "user_rate_limited"
        assert classify("198.51.100.3", CHROME, user_key="u2", kind="click", at=T0) == ""
        assert (
            classify("198.51.100.4", CHROME, user_key="", kind="click", at=T0) == ""
        )  # no user: no user limit

    def test_an_ipv6_subscriber_is_counted_per_64(self, settings):
        settings.IVT_CLICKS_PER_MINUTE_PER_IP = 1
        assert classify("2001:db8:1:2::1", CHROME, user_key="a", kind="click", at=T0) == ""
        assert classify("2001:db8:1:2::2", CHROME, user_key="b", kind="click", at=T0) == "ip_rate_limited"

    def test_defaults(self):
        assert ivt.rate_limit("impression", "ip") == 120
        assert ivt.rate_limit("click", "ip") == 20
        assert ivt.rate_limit("impression", "user") == 60
        assert ivt.rate_limit("click", "user") == 10

    def test_zero_turns_a_limit_off(self, settings):
        settings.IVT_CLICKS_PER_MINUTE_PER_IP = 0
        settings.IVT_CLICKS_PER_MINUTE_PER_USER = 0
        assert all(
            classify("198.51.100.7", CHROME, user_key="u", kind="click", at=T0) == "" for _ in range(30)
        )

    def test_a_bot_is_judged_by_its_agent_without_counting(self, settings, redis_client):
        assert classify("198.51.100.7", "curl/8.5.0", user_key="u", kind="click", at=T0) == "non_browser"
        assert redis_client.keys("adwright:ivt:rate:*") == []

    def test_without_redis_the_limits_are_not_applied(self, monkeypatch, settings):
        settings.IVT_CLICKS_PER_MINUTE_PER_IP = 1

        def down(**kwargs):
            raise redis.ConnectionError("down")

        monkeypatch.setattr(ivt, "_hit_script", lambda url: down)
        assert [classify("198.51.100.7", CHROME, user_key="u", kind="click", at=T0) for _ in range(3)] == [
            "",
            "",
            "",
        ]


@pytest.mark.usefixtures("redis_client")
def test_daily_counts_by_reason_and_kind():
    ivt.count("", "impression", T0)
    ivt.count("", "impression", T0)
    ivt.count("crawler", "impression", T0)
    ivt.count("crawler", "click", T0)
    ivt.count("duplicate", "click", T0 + timedelta(days=1))
    assert ivt.daily_counts(T0.date()) == {
        "valid": {"impression": 2},
        "crawler": {"impression": 1, "click": 1},
    }
    assert ivt.daily_counts((T0 + timedelta(days=1)).date()) == {"duplicate": {"click": 1}}
