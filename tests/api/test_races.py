"""What must hold when requests race, tried with real threads against committed data: an
Idempotency-Key retried while the first request runs, rate limits counted exactly, two writers
with the same If-Match.

Every test here needs `committed_world` (transactional_db): each thread has its own database
connection, which cannot see a test transaction.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from accounts.models import AuditLog
from campaigns.api.views import ConversionEventViewSet
from campaigns.models import ConversionEvent
from tests.api.conftest import World, error_of

URL = "/api/v1/conversion-events/"


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) in `count` threads released together; each closes its connection."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(10)
            results[index] = work(index)
        except Exception as exc:  # reported by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_a_retry_while_the_first_runs_answers_409(
    committed_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = committed_world
    body = {"advertiser": world.mine.advertiser.pk, "name": "Sign-up", "category": "sign_up"}
    entered, release = threading.Event(), threading.Event()
    original = ConversionEventViewSet.perform_create

    def slow(self: Any, serializer: Any) -> Any:
        entered.set()
        assert release.wait(10)
        return original(self, serializer)

    monkeypatch.setattr(ConversionEventViewSet, "perform_create", slow)
    results: dict[str, Any] = {}

    def first_request() -> None:
        try:
            client = world.client("owner_key")
            results["first"] = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="slow-1")
        finally:
            connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    try:
        assert entered.wait(10)
        during = world.client("owner_key").post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="slow-1")
    finally:
        release.set()
        thread.join(10)

    assert during.status_code == 409
    assert error_of(during)["code"] == "in_progress"
    assert results["first"].status_code == 201
    after = world.client("owner_key").post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="slow-1")
    assert after.status_code == 201
    assert after["Idempotent-Replayed"] == "true"
    assert ConversionEvent.objects.filter(name="Sign-up").count() == 1


def test_the_same_key_sent_many_times_at_once_creates_one_row(committed_world: World) -> None:
    world = committed_world
    body = {"advertiser": world.mine.advertiser.pk, "name": "Sign-up", "category": "sign_up"}

    def send(_: int) -> int:
        client = world.client("owner_key")
        return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="burst-1").status_code

    statuses = Counter(in_threads(8, send))

    assert set(statuses) <= {201, 409}, statuses  # the first, replays of it, or "still in progress"
    assert statuses[201] >= 1
    assert ConversionEvent.objects.filter(name="Sign-up").count() == 1


def test_the_per_key_limit_is_exact_under_concurrency(committed_world: World, settings: Any) -> None:
    settings.API_RATE_LIMIT_PER_KEY = 30
    world = committed_world
    threads, per_thread = 10, 5  # 50 requests

    def hits(_: int) -> list[int]:
        client = world.client("owner_key")
        return [client.get(URL).status_code for _ in range(per_thread)]

    statuses = Counter(status for result in in_threads(threads, hits) for status in result)

    assert statuses == {200: 30, 429: 20}


def test_the_per_advertiser_limit_is_exact_across_keys(committed_world: World, settings: Any) -> None:
    settings.API_RATE_LIMIT_PER_ADVERTISER = 12
    world = committed_world
    url = f"{URL}{world.mine.conversion_event.pk}/"
    callers = ["owner_key", "agency", "analyst_key", "owner_session"]

    def hits(index: int) -> list[int]:
        client = world.client(callers[index % len(callers)])
        return [client.get(url).status_code for _ in range(5)]

    statuses = Counter(status for result in in_threads(4, hits) for status in result)

    assert statuses == {200: 12, 429: 8}


def test_two_writers_with_the_same_if_match_one_wins(committed_world: World) -> None:
    world = committed_world
    url = f"{URL}{world.mine.conversion_event.pk}/"
    etag = world.client("owner_key").get(url)["ETag"]
    audited = AuditLog.objects.count()

    def write(index: int) -> int:
        client = world.client("owner_key" if index == 0 else "agency")
        response = client.patch(url, {"click_window_days": 10 + index}, format="json", HTTP_IF_MATCH=etag)
        return response.status_code

    statuses = sorted(in_threads(2, write))

    assert statuses == [200, 412]
    assert AuditLog.objects.count() == audited + 1
    world.mine.conversion_event.refresh_from_db()
    assert world.mine.conversion_event.click_window_days in (10, 11)
