"""Rate limits per API key (or user) and per advertiser, counted atomically in Redis.

Fixed one-minute windows, incremented by one Lua script (INCR, and the expiry set with the first
hit), so that concurrent requests on many web processes are counted exactly. When the limit is
passed the API answers 429 with Retry-After (the seconds left in the window). If Redis is down the
limits are not enforced (logged): serving advertisers matters more than counting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from rest_framework.exceptions import Throttled

log = logging.getLogger(__name__)

# KEYS[1] the window's counter; ARGV[1] the window in ms. Returns {count, ms left in the window}.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


@cache
def _script(url: str) -> object:
    return _client(url).register_script(_HIT)


@dataclass(frozen=True, slots=True)
class Usage:
    limit: int
    remaining: int
    reset_seconds: int


def hit(scope: str, limit: int, window_seconds: int = 60) -> Usage | None:
    """Count one request against `scope`; raise Throttled (429) past `limit` per window."""
    if limit <= 0:
        return None
    try:
        count, ttl_ms = _script(settings.REDIS_URL)(  # type: ignore[operator]
            keys=[f"adwright:ratelimit:{scope}:{window_seconds}"], args=[window_seconds * 1000]
        )
    except (redis.RedisError, OSError) as exc:
        log.warning("rate limit not enforced for %s: %s", scope, exc)
        return None
    reset = max(1, -(-int(ttl_ms) // 1000))
    if int(count) > limit:
        raise Throttled(wait=reset, detail=f"Too many requests for {scope.split(':')[0]}; retry in {reset}s.")
    return Usage(limit=limit, remaining=limit - int(count), reset_seconds=reset)


def principal_scope(principal: object) -> str:
    from accounts.models import ApiKey

    return f"key:{principal.pk}" if isinstance(principal, ApiKey) else f"user:{principal.pk}"  # type: ignore[attr-defined]


def limit_principal(principal: object) -> Usage | None:
    return hit(principal_scope(principal), settings.API_RATE_LIMIT_PER_KEY)


def limit_advertiser(advertiser_id: int) -> Usage | None:
    return hit(f"advertiser:{advertiser_id}", settings.API_RATE_LIMIT_PER_ADVERTISER)
