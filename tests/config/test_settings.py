"""The settings guard: with DEBUG off the project refuses unsafe configuration, and is deploy-clean."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from config import settings as project_settings

STRONG_KEY = secrets.token_urlsafe(64)


def run_check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    unset = {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", *args],
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "0"}, "SECRET_KEY must be set"),
        ({"DEBUG": "0", "SECRET_KEY": "short", "ALLOWED_HOSTS": "ads.example.com"}, "SECRET_KEY must be set"),
        (
            {"DEBUG": "0", "SECRET_KEY": "a" * 60, "ALLOWED_HOSTS": "ads.example.com"},
            "SECRET_KEY must be set",
        ),
        ({"DEBUG": "0", "SECRET_KEY": STRONG_KEY}, "ALLOWED_HOSTS must list"),
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"DATABASE_CONN_MAX_AGE": "a minute"}, "DATABASE_CONN_MAX_AGE must be an integer"),
    ],
)
def test_unsafe_or_malformed_configuration_refuses_to_start(env, message):
    result = run_check(env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_settings_pass_check_deploy():
    result = run_check(
        {"DEBUG": "0", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "ads.example.com"}, "--deploy"
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_defaults_need_nothing_set():
    result = run_check({})

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("off", False), ("", True)])
def test_env_bool(monkeypatch, raw, expected):
    monkeypatch.setenv("ADWRIGHT_FLAG", raw)
    assert project_settings.env_bool("ADWRIGHT_FLAG", True) is expected


def test_env_int_names_the_variable(monkeypatch):
    monkeypatch.setenv("ADWRIGHT_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="ADWRIGHT_NUMBER"):
        project_settings.env_int("ADWRIGHT_NUMBER", 1)


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("ADWRIGHT_HOSTS", "a.example, b.example,,")
    assert project_settings.env_list("ADWRIGHT_HOSTS", []) == ["a.example", "b.example"]


@pytest.mark.parametrize(
    ("redis_url", "broker"),
    [
        ("unix:///srv/var/run/redis.sock?db=3", "redis+socket:///srv/var/run/redis.sock?virtual_host=3"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_celery_broker_follows_redis_url(redis_url, broker):
    assert project_settings.celery_broker_url(redis_url) == broker


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
