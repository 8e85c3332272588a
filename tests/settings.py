"""Test-only settings: the project's settings with what the tests need changed."""

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from config.settings import *  # noqa: F403
from config.settings import REDIS_URL, celery_broker_url


def _with_db(url: str, db: int) -> str:
    if url.startswith("unix://"):  # unix:///path/redis.sock?db=0 (urlunsplit would drop a slash)
        path, _, query = url.partition("?")
        params = dict(parse_qsl(query))
        params["db"] = str(db)
        return f"{path}?{urlencode(params)}"
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


# Tests use their own Redis database (15), never the one that `make run` fills.
REDIS_URL = os.environ.get("TEST_REDIS_URL") or _with_db(REDIS_URL, 15)
CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "adwright-test",
    }
}
# Parallel test runs (several checkouts) can each name their own test database.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_adwright")}  # noqa: F405
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed: hashing is not under test
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
