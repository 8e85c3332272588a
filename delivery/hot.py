"""The serving path's Redis connection: one client per process, short timeouts.

Everything the hot path keeps in Redis (the index version, tracking nonces, invalid-traffic counters,
the event stream, budgets and spend counters, pacing rates, frequency counters, attribution touches)
goes through `redis_client()`.
"""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=30)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)
