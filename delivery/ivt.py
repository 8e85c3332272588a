"""Invalid traffic: which impressions and clicks are not a person looking at or clicking an ad.

In the manner of the industry's general invalid traffic (GIVT, as the MRC defines it): the
filtering that a list and a counter can do, applied to every event before it is counted.

- Known bots and crawlers, by user agent: the patterns of `crawler-user-agents`, the maintained
  list on PyPI (import `crawleruseragents`), compiled once into one regular expression.
- Non-browser agents, by user agent: an empty agent, and the HTTP libraries and command-line tools
  below, which no person browses with. Matched at the start of the agent only, so that an app that
  names itself first ("Shop/4.2 (Android 14) okhttp/4.12") is not one of them.
- Too many events per minute from one IP address or one user (`ip_rate_limited`,
  `user_rate_limited`): fixed one-minute windows counted in Redis by one Lua script (INCR, the
  expiry set with the first hit), as the API's rate limits do (accounts/api/ratelimit.py). The
  window is the minute of the event's own time, so the simulator's clock is counted as it runs.
  IPv6 addresses are counted per /64, the block one subscriber usually gets. If Redis does not
  answer, rate limits are not applied (logged). Events already judged by their agent are not
  counted.

The reasons a tracked event is invalid are the `IvtReason` values: the ones above from `classify`,
and those that delivery.tracking finds on the token itself (expired, duplicate, tampered) or on the
click's history (a click without its impression). An invalid event is stored with its reason and is
never billed: the reason travels with the event, and charges are made only for an empty one.

Every tracked event is also counted per UTC day in Redis (`count`): `adwright:ivt:<day>:<reason>`
is a hash of counts by kind of event, and the reason `valid` counts the valid ones, so staff can see
the share of invalid traffic, including the fires that never become an event (duplicates, tampered
URLs). `daily_counts` reads them back.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cache, lru_cache

import crawleruseragents
import redis
from django.conf import settings

from delivery.hot import redis_client

log = logging.getLogger(__name__)

__all__ = ["IvtReason", "classify", "count", "daily_counts", "user_agent_reason"]


class IvtReason(StrEnum):
    CRAWLER = "crawler"  # a known bot or crawler (crawler-user-agents)
    NON_BROWSER = "non_browser"  # an HTTP library or command-line tool, or no user agent at all
    IP_RATE_LIMITED = "ip_rate_limited"  # more events per minute from this IP than a person makes
    USER_RATE_LIMITED = "user_rate_limited"  # more events per minute from this user
    EXPIRED = "expired"  # the tracking URL was fired after its time to live
    DUPLICATE = "duplicate"  # the same impression, click or notice fired again (never a new event)
    TAMPERED = "tampered"  # a tracking URL whose signature does not verify (never a new event)
    CLICK_WITHOUT_IMPRESSION = "click_without_impression"  # a click whose impression never fired


# Counted next to the reasons, so that the share of invalid traffic can be read from Redis alone.
VALID = "valid"

# Non-browser agents the crawler list misses or files as crawlers: regular expressions matched at the
# start of the agent, case-insensitively. A bare "okhttp/x" is an Android HTTP library with no app
# named before it; apps that name themselves first are judged by the crawler list only.
NON_BROWSER_AGENTS = (
    r"curl/",
    r"wget/",
    r"python-requests/",
    r"python-urllib/",
    r"python-httpx/",
    r"python/",  # aiohttp and others: "Python/3.12 aiohttp/3.9"
    r"go-http-client/",
    r"java/",  # the JDK's HttpURLConnection: "Java/17.0.2"
    r"okhttp/",
    r"apache-httpclient/",
    r"libwww-perl/",
    r"node-fetch\b",
    r"node$",  # Node's own fetch
    r"undici\b",
    r"axios/",
    r"postmanruntime/",
    r"insomnia/",
    r"httpie/",
    r"ruby$",  # Net::HTTP
    r"faraday v",
    r"guzzlehttp/",
    r"dart(?:/|:io)",
)
_NON_BROWSER = re.compile("|".join(f"(?:{pattern})" for pattern in NON_BROWSER_AGENTS), re.IGNORECASE)

# Patterns of the crawler list left out because the prefixes above judge them better.
_CRAWLER_PATTERNS_LEFT_OUT = frozenset({"okhttp"})

# Agents longer than this are judged on their start (a real browser's agent is under 300 characters).
USER_AGENT_MAX_LENGTH = 512

# Defaults of the rate limits (events per minute); settings IVT_<KIND>S_PER_MINUTE_PER_IP / _PER_USER.
# Per IP: one address can be a household, an office or a mobile carrier's NAT, so the limit is a
# browsing person's several times over (a feed shows an ad every few seconds). Per user: one person;
# nobody reads more than one new ad a second for a minute, nor clicks ten ads in one.
DEFAULT_RATE_LIMITS: dict[str, dict[str, int]] = {
    "impression": {"ip": 120, "user": 60},
    "click": {"ip": 20, "user": 10},
}

# Rate-limit windows outlive their minute a little: an event's time can be a little in the past.
_WINDOW_SECONDS = 60
_WINDOW_TTL_MS = 3 * _WINDOW_SECONDS * 1000
# How long the daily counters are kept.
COUNTER_TTL_SECONDS = 400 * 86_400

# KEYS: one counter per scope; ARGV[1]: the counters' expiry in ms. Returns the counts, in order.
_HIT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
  counts[i] = count
end
return counts
"""


@cache
def _crawlers() -> re.Pattern[str]:
    patterns = (
        entry["pattern"]
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        if entry["pattern"] not in _CRAWLER_PATTERNS_LEFT_OUT
    )
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


def user_agent_reason(user_agent: str) -> str:
    """The invalid-traffic reason of a user agent alone, or "" for what looks like a browser or app."""
    return _agent_reason(user_agent.strip()[:USER_AGENT_MAX_LENGTH])


@lru_cache(maxsize=8192)  # agents repeat: the list's one regular expression runs once per distinct agent
def _agent_reason(agent: str) -> str:
    if not agent or _NON_BROWSER.match(agent):
        return IvtReason.NON_BROWSER
    if _crawlers().search(agent):
        return IvtReason.CRAWLER
    return ""


def classify(ip: str, user_agent: str, *, user_key: str, kind: str, at: datetime | None = None) -> str:
    """The reason this impression or click (`kind`) is invalid traffic, or "" when it is valid.

    Counts the event against its IP's and its user's per-minute limits (the minute of `at`, now by
    default), unless its user agent already settles it.
    """
    reason = user_agent_reason(user_agent)
    if reason:
        return reason
    return _rate_limit_reason(ip, user_key, str(kind), at or datetime.now(UTC))


def rate_limit(kind: str, scope: str) -> int:
    """Events of `kind` allowed per minute from one `scope` ("ip" or "user")."""
    default = DEFAULT_RATE_LIMITS.get(kind, {}).get(scope, 0)
    return int(getattr(settings, f"IVT_{kind.upper()}S_PER_MINUTE_PER_{scope.upper()}", default))


def ip_scope(ip: str) -> str:
    """What one IP address is counted as: itself, or its /64 for IPv6; "" when it is not an address."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # "::ffff:192.0.2.1" is the IPv4 address
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _rate_limit_reason(ip: str, user_key: str, kind: str, at: datetime) -> str:
    minute = int(at.timestamp()) // _WINDOW_SECONDS
    checks: list[tuple[str, int]] = []
    keys: list[str] = []
    scope = ip_scope(ip)
    ip_limit = rate_limit(kind, "ip")
    if scope and ip_limit > 0:
        keys.append(f"adwright:ivt:rate:{kind}:ip:{scope}:{minute}")
        checks.append((IvtReason.IP_RATE_LIMITED, ip_limit))
    user_limit = rate_limit(kind, "user")
    if user_key and user_limit > 0:
        keys.append(f"adwright:ivt:rate:{kind}:user:{user_key}:{minute}")
        checks.append((IvtReason.USER_RATE_LIMITED, user_limit))
    if not keys:
        return ""
    try:
        counts = _hit_script(settings.REDIS_URL)(keys=keys, args=[_WINDOW_TTL_MS])
    except (redis.RedisError, OSError) as exc:
        log.warning("invalid-traffic rate limits not applied: %s", exc)
        return ""
    for (reason, limit), seen in zip(checks, counts, strict=True):
        if int(seen) > limit:
            return reason
    return ""


@cache
def _hit_script(url: str) -> redis.commands.core.Script:
    return redis_client().register_script(_HIT)


def _counter_key(day: date, reason: str) -> str:
    return f"adwright:ivt:{day.isoformat()}:{reason}"


def count(reason: str, kind: str, at: datetime, pipe: redis.client.Pipeline | None = None) -> None:
    """Count one tracked event of `kind` under `reason` ("" or VALID for a valid one) on `at`'s UTC day.

    With `pipe`, the commands join that pipeline (executed by the caller); otherwise they are sent now.
    """
    key = _counter_key(at.astimezone(UTC).date(), reason or VALID)
    target = pipe if pipe is not None else redis_client().pipeline(transaction=False)
    target.hincrby(key, str(kind), 1)
    target.expire(key, COUNTER_TTL_SECONDS)
    if pipe is None:
        target.execute()


def daily_counts(day: date) -> dict[str, dict[str, int]]:
    """{reason: {kind: count}} for one UTC day, with `valid` for the valid events."""
    reasons = [VALID, *IvtReason]
    pipe = redis_client().pipeline(transaction=False)
    for reason in reasons:
        pipe.hgetall(_counter_key(day, reason))
    out: dict[str, dict[str, int]] = {}
    for reason, counts in zip(reasons, pipe.execute(), strict=True):
        if counts:
            out[str(reason)] = {kind.decode(): int(value) for kind, value in counts.items()}
    return out
