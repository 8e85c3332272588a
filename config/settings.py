"""Adwright settings: one module, read from the environment.

Development defaults are safe and need nothing set: DEBUG on, the embedded PostgreSQL and Redis under
var/ (config/embedded.py). With DEBUG off, the process refuses to start without a real SECRET_KEY
and ALLOWED_HOSTS. Test-only settings live in tests/settings.py.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.embedded import default_database_url, default_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ADWRIGHT_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "django-insecure-adwright-development-only"  # noqa: S105 - refused below when DEBUG is off
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

if not DEBUG:
    if SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off"
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must list the served host names when DEBUG is off")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "campaigns",
    "delivery",
    "reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.current_advertiser",
            ],
        },
    },
]

# Database: DATABASE_URL, or the embedded PostgreSQL under var/postgres.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or default_database_url(VAR_DIR),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: REDIS_URL, or the embedded Redis on a unix socket under var/run.
REDIS_URL = env_str("REDIS_URL") or default_redis_url(VAR_DIR)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "adwright",
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Messages live in the session, not in a signed cookie: a new API key's token is shown once as a message.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Creative images are checked in memory before they are stored; larger uploads are refused early.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Security: production behind a TLS-terminating proxy.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads nothing from it: the token is rendered into hx-headers
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

# Celery: Redis is the broker; tasks are acknowledged after they run, so a lost worker's task is
# redelivered (every task must therefore be safe to run twice).


def celery_broker_url(redis_url: str) -> str:
    """Kombu spells a unix-socket Redis as redis+socket://path?virtual_host=<db>."""
    if not redis_url.startswith("unix://"):
        return redis_url
    path, _, query = redis_url.removeprefix("unix://").partition("?")
    db = dict(part.split("=", 1) for part in query.split("&") if "=" in part).get("db", "0")
    return f"redis+socket://{path}?virtual_host={db}"


CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or celery_broker_url(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task taken by a worker that died is given to another after this long (a Redis broker's
# "visibility timeout"); the reliability tests shorten it.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 60 * 60)}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
# The one beat schedule. Each entry's "expected_every" tells /healthz when its last run is late.
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "config.tasks.heartbeat",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 50},
    },
    "clear-expired-sessions": {
        "task": "accounts.tasks.clear_expired_sessions",
        "schedule": crontab(minute=17),
        "options": {"expires": 30 * 60},
    },
    # The serving path's events, from the Redis stream into PostgreSQL (COPY, idempotent).
    "drain-events": {
        "task": "delivery.tasks.drain_events",
        "schedule": timedelta(seconds=2),
        "options": {"expires": 10},
    },
    # Budgets: the pacing controller sets each campaign's pass-through rate, and Redis's spend
    # counters are reconciled with the ledger (overspend credited), every minute.
    "pace-campaigns": {
        "task": "delivery.tasks.pace_campaigns",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 50},
    },
    "reconcile-budgets": {
        "task": "delivery.tasks.reconcile_budgets",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 50},
    },
    # The pCTR and pCVR models retrained daily on the last ML_TRAINING_DAYS of events (delivery.ml).
    "train-models": {
        "task": "delivery.tasks.train_models",
        "schedule": crontab(hour=3, minute=23),
        "options": {"expires": 6 * 3600},
    },
    # Reporting: the hours whose raw events changed are rolled up again (reporting.rollup).
    "roll-up-reports": {
        "task": "reporting.tasks.roll_up",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 50},
    },
    # Scheduled reports emailed once per advertiser day (reporting.schedules); report jobs whose
    # worker died are failed, old ones deleted (reporting.jobs).
    "send-scheduled-reports": {
        "task": "reporting.tasks.send_scheduled_reports",
        "schedule": timedelta(minutes=15),
        "options": {"expires": 14 * 60},
    },
    "expire-report-jobs": {
        "task": "reporting.tasks.expire_report_jobs",
        "schedule": timedelta(minutes=15),
        "options": {"expires": 14 * 60},
    },
    # Tomorrow's event partitions made ahead of time; partitions past retention dropped.
    "maintain-partitions": {
        "task": "delivery.tasks.maintain_partitions",
        "schedule": crontab(minute=7),
        "options": {"expires": 30 * 60},
    },
}
# Models (delivery.ml): the days of events each training reads; how long after an impression its
# click label is final, and after a click its conversion label; the fewest positives worth a model.
ML_TRAINING_DAYS = env_int("ML_TRAINING_DAYS", 7)
ML_CLICK_LABEL_HOURS = env_int("ML_CLICK_LABEL_HOURS", 1)
ML_CONVERSION_LABEL_HOURS = env_int("ML_CONVERSION_LABEL_HOURS", 24)
ML_MIN_POSITIVES = env_int("ML_MIN_POSITIVES", 30)
ML_MAX_ROUNDS = env_int("ML_MAX_ROUNDS", 600)
ML_TRAINING_THREADS = env_int("ML_TRAINING_THREADS", 0)  # 0: every core of the machine
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "run" / "celerybeat-schedule")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.ApiKeyAuthentication",  # first: unauthenticated calls get 401
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "accounts.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": None,
    # `?format=` is a filter (creatives' format), never a choice of renderer: the API speaks JSON.
    "URL_FORMAT_OVERRIDE": None,
}
# The ad server (delivery/).
# Each serving process rebuilds its targeting index when the version in Redis moves, and at least
# this often (schedules end, accounts are suspended).
INDEX_MAX_AGE_SECONDS = env_int("INDEX_MAX_AGE_SECONDS", 60)
# What a lowest-cost ad group bids (USD micros CPM) until the pacing controller sets its bid.
DELIVERY_LOWEST_COST_CPM_MICROS = env_int("DELIVERY_LOWEST_COST_CPM_MICROS", 4_000_000)
# USD per unit of a currency, JSON, e.g. {"EUR": "1.08"}: overrides delivery/fx.py's defaults.
FX_USD_PER_UNIT: dict[str, str] = json.loads(env_str("FX_USD_PER_UNIT") or "{}")
# How long a tracking URL counts after the decision: impressions fire at once, clicks come later.
TRACKING_IMPRESSION_TTL_SECONDS = env_int("TRACKING_IMPRESSION_TTL_SECONDS", 3600)
TRACKING_CLICK_TTL_SECONDS = env_int("TRACKING_CLICK_TTL_SECONDS", 7 * 24 * 3600)
TRACKING_NOTICE_TTL_SECONDS = env_int("TRACKING_NOTICE_TTL_SECONDS", 7 * 24 * 3600)
# Invalid traffic: more than this many per minute from one IP or one user is not a person (0: off).
IVT_IMPRESSIONS_PER_MINUTE_PER_IP = env_int("IVT_IMPRESSIONS_PER_MINUTE_PER_IP", 120)
IVT_CLICKS_PER_MINUTE_PER_IP = env_int("IVT_CLICKS_PER_MINUTE_PER_IP", 20)
IVT_IMPRESSIONS_PER_MINUTE_PER_USER = env_int("IVT_IMPRESSIONS_PER_MINUTE_PER_USER", 60)
IVT_CLICKS_PER_MINUTE_PER_USER = env_int("IVT_CLICKS_PER_MINUTE_PER_USER", 10)
# Proxies in front of the web servers whose X-Forwarded-For entries are trusted (0: none).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# Raw event partitions (one per day) older than this are dropped; rollups are kept.
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 90)

# Reports (reporting/): a report API request that may pass this many rows becomes a report job.
REPORT_INLINE_MAX_ROWS = env_int("REPORT_INLINE_MAX_ROWS", 10_000)
# Scheduled reports are sent after this hour of the advertiser's day (the night's rollups are in).
SCHEDULED_REPORTS_SEND_HOUR = env_int("SCHEDULED_REPORTS_SEND_HOUR", 6)
# The address people reach the Ads Manager at, for links in emails.
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")

# Email (scheduled reports): printed on the console in development, SMTP otherwise.
_EMAIL_DEFAULT = "console" if DEBUG else "smtp"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", f"django.core.mail.backends.{_EMAIL_DEFAULT}.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Adwright <reports@localhost>")

# Creative review (campaigns/policy.py): a creative of a trusted advertiser that passes every
# automatic check is approved without a human; images this close (bits of 64) to one a reviewer
# rejected are rejected too.
REVIEW_AUTO_APPROVE_TRUSTED = env_bool("REVIEW_AUTO_APPROVE_TRUSTED", True)
REVIEW_NEAR_DUPLICATE_MAX_DISTANCE = env_int("REVIEW_NEAR_DUPLICATE_MAX_DISTANCE", 6)

# Requests per minute, counted in Redis; 0 turns a limit off.
API_RATE_LIMIT_PER_KEY = env_int("API_RATE_LIMIT_PER_KEY", 1200)
API_RATE_LIMIT_PER_ADVERTISER = env_int("API_RATE_LIMIT_PER_ADVERTISER", 3000)

SPECTACULAR_SETTINGS = {
    "TITLE": "Adwright API",
    "DESCRIPTION": (
        "Manage advertiser accounts, campaigns, ad groups, creatives and conversion events, and read "
        "their reports. "
        "Authenticate with `Authorization: Bearer <key>`. Money is in integer micros of the "
        'account currency. Errors: `{"error": {"code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Several models have a `status` with other choices: name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "AdvertiserStatusEnum": "accounts.models.Advertiser.Status",
        "CampaignStatusEnum": "campaigns.models.Campaign.Status",
        "SwitchableStatusEnum": "campaigns.models.Switchable.Status",
        "CreativeCategoryEnum": "campaigns.models.CREATIVE_CATEGORIES",
        "ConversionEventCategoryEnum": "campaigns.models.ConversionEvent.Category",
        "FormatEnum": "campaigns.models.Creative.Format",  # a creative's; a report's file is below
        "ReportFormatEnum": "reporting.jobs.FORMATS",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
