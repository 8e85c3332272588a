"""The base fixtures: an advertiser with an owner (admin), a read-only member (analyst) and an
outsider (admin of another account), as every endpoint must be tried by all three."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_lib
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Advertiser, Role, User
from tests.factories import AdvertiserFactory, MembershipFactory


def pytest_configure(config):
    # `make run` collects static files here; whitenoise warns when the folder does not exist.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@dataclass
class Tenants:
    advertiser: Advertiser
    owner: User
    analyst: User
    outsider: User
    other_advertiser: Advertiser


@pytest.fixture
def tenants(db) -> Tenants:
    advertiser = AdvertiserFactory(name="Acme Shoes")
    other = AdvertiserFactory(name="Globex")
    owner = MembershipFactory(advertiser=advertiser, role=Role.ADMIN, user__email="owner@acme.test").user
    analyst = MembershipFactory(
        advertiser=advertiser, role=Role.ANALYST, user__email="analyst@acme.test"
    ).user
    outsider = MembershipFactory(advertiser=other, role=Role.ADMIN, user__email="outsider@globex.test").user
    return Tenants(advertiser, owner, analyst, outsider, other)


def api_client(principal: User | str | None = None) -> APIClient:
    """An API client as a user (browser session), with an API key's token, or anonymous."""
    client = APIClient()
    if isinstance(principal, str):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {principal}")
    elif principal is not None:
        client.force_login(principal)
    return client


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def redis_client():
    """The tests' own Redis database, emptied before and after each test that asks for it."""
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
