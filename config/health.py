"""GET /healthz: the state of the database, Redis, the Celery workers and the periodic tasks.

Answers 200 when the database, Redis and at least one worker answer, 503 otherwise. Periodic tasks
are reported ("ok", "late", "never") but do not turn the answer into 503 on their own: right after a
start nothing has run yet, and a late beat does not stop the product from serving.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import redis
from celery.schedules import crontab, schedule
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

LAST_SUCCESS_KEY = "adwright:periodic:last_success"


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _redis() -> redis.Redis:
    return _client(settings.REDIS_URL)


def scheduled_task_names() -> set[str]:
    return {str(entry["task"]) for entry in settings.CELERY_BEAT_SCHEDULE.values()}


def record_success(task_name: str) -> None:
    with contextlib.suppress(redis.RedisError, OSError):  # bookkeeping must never fail the task itself
        _redis().hset(LAST_SUCCESS_KEY, task_name, datetime.now(UTC).isoformat())


def _expected_interval(entry: dict[str, Any]) -> timedelta:
    sched = entry["schedule"]
    if isinstance(sched, timedelta):
        return sched
    if isinstance(sched, crontab):
        # Crontabs here run at least daily; a finer estimate: hourly if every hour is in the crontab.
        return timedelta(hours=1) if len(sched.hour) == 24 else timedelta(days=1)  # type: ignore[attr-defined]
    if isinstance(sched, schedule):
        return sched.run_every  # type: ignore[attr-defined]
    return timedelta(seconds=float(sched))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _timed(check: Any) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = {"ok": True, **(check() or {})}
    except Exception as exc:  # a health check reports every failure instead of raising
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def _check_redis() -> dict[str, Any]:
    _redis().ping()
    return {}


def _check_worker() -> dict[str, Any]:
    from config.celery import app

    replies = app.control.ping(timeout=1.0, limit=1)
    if not replies:
        raise RuntimeError("no Celery worker answered a ping within 1s")
    return {"workers": sorted(name for reply in replies for name in reply)}


def _periodic_tasks() -> dict[str, Any]:
    try:
        raw = _redis().hgetall(LAST_SUCCESS_KEY)
    except (redis.RedisError, OSError):
        raw = {}
    last = {_text(key): datetime.fromisoformat(_text(value)) for key, value in raw.items()}
    now = datetime.now(UTC)
    report = {}
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        task = str(entry["task"])
        succeeded = last.get(task)
        interval = _expected_interval(entry)
        if succeeded is None:
            state = "never"
        elif now - succeeded > 2 * interval + timedelta(minutes=1):
            state = "late"
        else:
            state = "ok"
        report[name] = {
            "task": task,
            "state": state,
            "last_success": succeeded.isoformat() if succeeded else None,
            "expected_every_seconds": int(interval.total_seconds()),
        }
    return report


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _timed(_check_database),
        "redis": _timed(_check_redis),
        "celery_worker": _timed(_check_worker),
    }
    healthy = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if healthy else "down", **checks, "periodic_tasks": _periodic_tasks()}
    return JsonResponse(body, status=200 if healthy else 503)
