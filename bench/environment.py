"""The bench's own database and Redis database, made before the figures and removed after them.

Run under `python -m config.embedded --` (as `make bench` does), DATABASE_URL and REDIS_URL name the
embedded servers; the bench creates `adwright_bench` next to the project's database, migrates it,
and drops it at the end, and uses Redis database 11, emptied before and after. The variables are
exported, so that the gunicorn the throughput figure starts uses the same ones.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

DATABASE_NAME = "adwright_bench"
REDIS_DB = 11


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def with_redis_db(url: str, db: int) -> str:
    if url.startswith("unix://"):  # unix:///path/redis.sock?db=0
        path, _, _ = url.partition("?")
        return f"{path}?db={db}"
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def bench_environment() -> dict[str, str]:
    """The variables under which the bench process and its gunicorn run: production-like settings
    (DEBUG off) on the bench's own databases, with rate limits too high to be reached (still
    counted in Redis on every request, as in production)."""
    from config.embedded import default_database_url, default_redis_url

    database_url = os.environ.get("DATABASE_URL") or default_database_url()
    redis_url = os.environ.get("REDIS_URL") or default_redis_url()
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": with_database(database_url, DATABASE_NAME),
        "REDIS_URL": with_redis_db(redis_url, REDIS_DB),
        "ADMIN_DATABASE_URL": with_database(database_url, "postgres"),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "0",
        "API_RATE_LIMIT_PER_KEY": str(10**9),
        "API_RATE_LIMIT_PER_ADVERTISER": str(10**9),
        "LOG_LEVEL": "WARNING",
    }


def _admin(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def _dj_url_to_psycopg(url: str) -> str:
    """dj-database-url's socket-directory host (percent-encoded) as a libpq connection string."""
    import dj_database_url

    config = dj_database_url.parse(url)
    parts = {
        "dbname": config["NAME"],
        "user": config.get("USER") or "",
        "password": config.get("PASSWORD") or "",
        "host": config.get("HOST") or "",
        "port": str(config.get("PORT") or ""),
    }
    return " ".join(f"{key}='{value}'" for key, value in parts.items() if value)


@contextmanager
def bench_databases() -> Iterator[dict[str, str]]:
    """Export the bench environment, create and migrate the bench database; drop it afterwards."""
    env = bench_environment()
    os.environ.update(env)
    admin = _dj_url_to_psycopg(env["ADMIN_DATABASE_URL"])
    _admin(admin, f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')
    _admin(admin, f'CREATE DATABASE "{DATABASE_NAME}"')
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        _flush_redis(env["REDIS_URL"])
        yield env
    finally:
        from django.db import connections

        connections.close_all()
        _flush_redis(env["REDIS_URL"])
        _admin(admin, f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')


def _flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()
