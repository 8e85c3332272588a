"""Rate limits per key (or user) and per advertiser (accounts/api/ratelimit.py): 429 with
Retry-After past the limit, X-RateLimit-* on every counted answer, counted in Redis.

Exact counting under concurrency is in test_races.py (threads).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import World, error_of

EVENTS = "/api/v1/conversion-events/"


@pytest.fixture
def small_limits(settings: Any) -> Any:
    settings.API_RATE_LIMIT_PER_KEY = 3
    settings.API_RATE_LIMIT_PER_ADVERTISER = 1000
    return settings


def test_the_key_limit_answers_429_with_retry_after(world: World, small_limits: Any) -> None:
    client = world.client("owner_key")
    answers = [client.get(EVENTS) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["X-RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert all(a["X-RateLimit-Limit"] == "3" for a in answers[:3])
    assert all(1 <= int(a["X-RateLimit-Reset"]) <= 60 for a in answers[:3])
    refused = answers[3]
    assert error_of(refused)["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_every_method_counts(world: World, small_limits: Any) -> None:
    client = world.client("owner_key")
    url = f"{EVENTS}{world.mine.conversion_event.pk}/"
    client.get(url)
    client.patch(url, {"click_window_days": 9}, format="json")
    client.options(url)
    assert client.get(url).status_code == 429


def test_a_refused_write_changes_nothing(world: World, small_limits: Any) -> None:
    client = world.client("owner_key")
    for _ in range(3):
        client.get(EVENTS)
    body = {"advertiser": world.mine.advertiser.pk, "name": "Lead", "category": "lead"}
    assert client.post(EVENTS, body, format="json").status_code == 429
    assert not world.mine.advertiser.conversion_events.filter(name="Lead").exists()


def test_keys_are_counted_apart(world: World, small_limits: Any) -> None:
    owner = world.client("owner_key")
    for _ in range(3):
        owner.get(EVENTS)
    assert owner.get(EVENTS).status_code == 429
    assert world.client("agency").get(EVENTS).status_code == 200
    assert world.client("owner_session").get(EVENTS).status_code == 200  # a user is its own caller


def test_a_session_user_is_limited_too(world: World, small_limits: Any) -> None:
    client = world.client("owner_session")
    assert [client.get(EVENTS).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_the_advertiser_limit_spans_its_callers(world: World, settings: Any) -> None:
    settings.API_RATE_LIMIT_PER_KEY = 1000
    settings.API_RATE_LIMIT_PER_ADVERTISER = 4
    url = f"{EVENTS}{world.mine.conversion_event.pk}/"
    statuses = [world.client(caller).get(url).status_code for caller in ("owner_key", "agency") * 3]

    assert statuses == [200, 200, 200, 200, 429, 429]
    # Another advertiser's objects are not slowed down by this one's traffic.
    theirs = f"{EVENTS}{world.other.conversion_event.pk}/"
    assert world.client("other_agency").get(theirs).status_code == 200


def test_the_advertiser_limit_counts_writes_and_actions(world: World, settings: Any) -> None:
    settings.API_RATE_LIMIT_PER_KEY = 1000
    settings.API_RATE_LIMIT_PER_ADVERTISER = 2
    client = world.client("owner_key")
    campaign = f"/api/v1/campaigns/{world.mine.campaign.pk}/"
    assert client.patch(campaign, {"budget_micros": 70_000_000}, format="json").status_code == 200
    assert client.post(f"{campaign}activate/").status_code == 200
    refused = client.post(f"{campaign}archive/")
    assert refused.status_code == 429
    world.mine.campaign.refresh_from_db()
    assert world.mine.campaign.status == "active"


def test_a_bulk_request_weighs_one_hit_per_item(world: World, settings: Any) -> None:
    settings.API_RATE_LIMIT_PER_KEY = 1000
    settings.API_RATE_LIMIT_PER_ADVERTISER = 5
    items = [
        {
            "advertiser": world.mine.advertiser.pk,
            "name": f"Bulk {i}",
            "objective": "awareness",
            "budget_micros": 1,
        }
        for i in range(6)
    ]
    response = world.client("owner_key").post("/api/v1/campaigns/bulk/", {"items": items}, format="json")
    assert response.status_code == 429
    assert not world.mine.advertiser.campaigns.filter(name__startswith="Bulk").exists()


def test_anonymous_calls_are_refused_before_counting(world: World, small_limits: Any, redis_db: Any) -> None:
    anonymous = world.client("anonymous")
    for _ in range(5):
        assert anonymous.get(EVENTS).status_code == 401
    assert not redis_db.keys("adwright:ratelimit:*")


def test_zero_turns_a_limit_off(world: World, settings: Any) -> None:
    settings.API_RATE_LIMIT_PER_KEY = 0
    client = world.client("owner_key")
    answers = [client.get(EVENTS) for _ in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert not answers[0].has_header("X-RateLimit-Limit")


def test_without_redis_the_api_still_serves(world: World, small_limits: Any, settings: Any) -> None:
    """Serving advertisers matters more than counting: a Redis outage lifts the limits (logged)."""
    settings.REDIS_URL = "unix:///nonexistent/redis.sock?db=0"
    client = world.client("owner_key")
    assert [client.get(EVENTS).status_code for _ in range(5)] == [200] * 5


def test_the_window_resets(world: World, small_limits: Any, redis_db: Any) -> None:
    client = world.client("owner_key")
    for _ in range(3):
        client.get(EVENTS)
    assert client.get(EVENTS).status_code == 429
    redis_db.delete(*redis_db.keys("adwright:ratelimit:key:*"))  # the minute passes
    assert client.get(EVENTS).status_code == 200
