"""The API's fixture world: two agencies, each with an advertiser holding one of everything, and the
callers that the tenant matrix and the behaviour tests try every endpoint with.

    agency "Northwind"  -> advertiser "Acme Shoes"  -> campaign -> ad group -> creative (approved)
                                                    -> conversion event, memberships, API keys, audit log
    agency "Initech"    -> advertiser "Globex"      -> the same (the other agency's own rows)

Callers (each a DRF APIClient):
    owner_key        admin API key of Acme Shoes
    owner_session    a user with an admin membership on Acme Shoes, by session
    agency           admin API key of Northwind (so of all its advertisers)
    analyst_session  a user with an analyst (read-only) membership on Acme Shoes
    analyst_key      analyst API key of Northwind
    other_agency     admin API key of Initech: must see none of Northwind's rows
    anonymous        no credentials
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pytest
import redis as redis_lib
from django.conf import settings
from django.db import models, transaction
from rest_framework.test import APIClient

from accounts.audit import Actor, record, snapshot
from accounts.models import Advertiser, Agency, ApiKey, AuditLog, Membership, Role, User
from campaigns.models import AdGroup, Campaign, ConversionEvent, Creative
from reporting.models import ReportJob
from tests.factories import (
    AdGroupFactory,
    AdvertiserFactory,
    AgencyFactory,
    CampaignFactory,
    ConversionEventFactory,
    CreativeFactory,
    MembershipFactory,
    UserFactory,
    issue_api_key,
)

# Callers grouped by what they may do: the tenant matrix states one expectation per group.
CALLER_GROUPS: dict[str, str] = {
    "owner_key": "owner",
    "owner_session": "owner",
    "agency": "agency",
    "analyst_session": "analyst",
    "analyst_key": "analyst",
    "other_agency": "other",
    "anonymous": "anonymous",
}
CALLERS = tuple(CALLER_GROUPS)


@dataclass
class Account:
    """One advertiser with one of everything, as an API caller sees it."""

    agency: Agency
    advertiser: Advertiser
    campaign: Campaign
    ad_group: AdGroup
    creative: Creative
    conversion_event: ConversionEvent
    member: Membership  # a manager: the target of /members/{id} (never one of the callers)
    api_key: ApiKey  # a spare key: the target of /api-keys/{id} (never one of the callers)
    audit_entry: AuditLog
    report_job: ReportJob  # done (its file left empty: snapshots of it stay JSON)

    def object_of(self, model: type[models.Model]) -> models.Model:
        """This account's row of `model`: the object a detail route of that resource is tried on."""
        by_model: dict[type[models.Model], models.Model] = {
            Agency: self.agency,
            Advertiser: self.advertiser,
            Campaign: self.campaign,
            AdGroup: self.ad_group,
            Creative: self.creative,
            ConversionEvent: self.conversion_event,
            Membership: self.member,
            ApiKey: self.api_key,
            AuditLog: self.audit_entry,
            ReportJob: self.report_job,
        }
        for klass in model.__mro__:
            if klass in by_model:
                return by_model[klass]
        raise LookupError(f"the API fixture world has no {model.__name__}: add one to tests/api/conftest.py")

    def reloaded(self) -> Account:
        """The same rows read again (a test sees them as stored, not as an earlier test left them)."""
        values = {f.name: _reload(getattr(self, f.name)) for f in fields(self)}
        return Account(**values)


def _reload(obj: models.Model) -> Any:
    return type(obj)._default_manager.get(pk=obj.pk)


def build_account(agency_name: str, advertiser_name: str) -> Account:
    agency = AgencyFactory(name=agency_name, slug=agency_name.lower().replace(" ", "-"))
    advertiser = AdvertiserFactory(agency=agency, name=advertiser_name)
    conversion_event = ConversionEventFactory(advertiser=advertiser, name="Purchase")
    campaign = CampaignFactory(advertiser=advertiser, name="Spring sale")
    ad_group = AdGroupFactory(campaign=campaign, name="Runners")
    creative = CreativeFactory(ad_group=ad_group, name="Banner 300x250", approved=True)
    member = MembershipFactory(advertiser=advertiser, role=Role.MANAGER)
    api_key, _ = issue_api_key(name="Nightly sync", role=Role.MANAGER, advertiser=advertiser)
    audit_entry = record(actor=Actor.system(), action="create", obj=campaign, after=snapshot(campaign))
    assert audit_entry is not None
    report_job = ReportJob.objects.create(
        advertiser=advertiser,
        query={"dimensions": ["day"], "start": "2025-01-01", "end": "2025-01-31"},
        format="csv",
        status=ReportJob.Status.DONE,
        rows=0,
    )
    return Account(
        agency=agency,
        advertiser=advertiser,
        campaign=campaign,
        ad_group=ad_group,
        creative=creative,
        conversion_event=conversion_event,
        member=member,
        api_key=api_key,
        audit_entry=audit_entry,
        report_job=report_job,
    )


@dataclass
class World:
    mine: Account  # the owner's account: every request targets its objects
    other: Account  # the other agency's account
    owner: User
    analyst: User
    newcomer: User  # has an account and no membership: the one to give a role to
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, caller: str) -> APIClient:
        client = APIClient()
        if caller in self.tokens:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tokens[caller]}")
        elif caller == "owner_session":
            client.force_login(self.owner)
        elif caller == "analyst_session":
            client.force_login(self.analyst)
        elif caller != "anonymous":
            raise KeyError(caller)
        return client

    def reloaded(self) -> World:
        return replace(
            self,
            mine=self.mine.reloaded(),
            other=self.other.reloaded(),
            owner=_reload(self.owner),
            analyst=_reload(self.analyst),
            newcomer=_reload(self.newcomer),
        )

    def key_of(self, caller: str) -> ApiKey:
        key = ApiKey.authenticate(self.tokens[caller])
        assert key is not None
        return key


def build_world() -> World:
    mine = build_account("Northwind", "Acme Shoes")
    other = build_account("Initech", "Globex")
    owner = MembershipFactory(
        advertiser=mine.advertiser, role=Role.ADMIN, user=UserFactory(email="owner@acme.test")
    ).user
    analyst = MembershipFactory(
        advertiser=mine.advertiser, role=Role.ANALYST, user=UserFactory(email="analyst@acme.test")
    ).user
    newcomer = UserFactory(email="newcomer@acme.test")
    tokens = {
        "owner_key": issue_api_key(name="owner", role=Role.ADMIN, advertiser=mine.advertiser)[1],
        "agency": issue_api_key(name="agency", role=Role.ADMIN, agency=mine.agency)[1],
        "analyst_key": issue_api_key(name="analyst", role=Role.ANALYST, agency=mine.agency)[1],
        "other_agency": issue_api_key(name="other", role=Role.ADMIN, agency=other.agency)[1],
    }
    return World(mine=mine, other=other, owner=owner, analyst=analyst, newcomer=newcomer, tokens=tokens)


@pytest.fixture
def redis_db() -> Iterator[redis_lib.Redis]:
    """The tests' own Redis database, empty: rate-limit counters and idempotency keys start afresh."""
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="module")
def module_world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    """One world per test module, built inside a transaction that is rolled back after the module.

    Each test's `db` transaction nests in it as a savepoint, so a test's writes are undone after the
    test and the world is built once per module instead of once per test (the matrix has hundreds).
    Modules whose tests need committed data (threads, Schemathesis) use `committed_world` instead.
    """
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        world = build_world()
    yield world
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def world(module_world: World, db: Any, redis_db: redis_lib.Redis) -> World:
    return module_world.reloaded()


@pytest.fixture
def committed_world(transactional_db: Any, redis_db: redis_lib.Redis) -> World:
    """The world committed for real: for tests whose requests run in other threads or processes."""
    return build_world()


def error_of(response: Any) -> dict[str, Any]:
    """The body of an API error, checked for the one error shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["fields"], dict), error
    return error
