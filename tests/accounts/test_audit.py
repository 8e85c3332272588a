"""The audit log: services write who changed what with only the changed fields; nothing rewrites it."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from accounts.audit import Actor, changed, record, snapshot
from accounts.models import AuditLog, Role
from campaigns import services
from campaigns.models import Campaign, Objective
from tests.factories import (
    AdGroupFactory,
    AdvertiserFactory,
    CampaignFactory,
    UserFactory,
    issue_api_key,
    png_file,
    servable_campaign,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def entry() -> AuditLog:
    campaign = services.create_campaign(
        advertiser=AdvertiserFactory(), actor=Actor.system(), name="Audited", objective=Objective.AWARENESS,
        budget_micros=1_000_000,
    )  # fmt: skip
    return AuditLog.objects.get(object_id=str(campaign.pk))


def test_creation_is_logged_with_the_whole_new_object(entry: AuditLog) -> None:
    campaign = Campaign.objects.get()
    assert (entry.action, entry.source, entry.actor_label) == ("create", "system", "system")
    assert (entry.object_type, entry.object_repr, entry.advertiser_id) == (
        "campaigns.Campaign", "Audited", campaign.advertiser_id,
    )  # fmt: skip
    assert entry.before is None
    assert entry.after == snapshot(campaign)
    assert entry.after["budget_micros"] == 1_000_000


def test_every_create_service_logs_its_object() -> None:
    advertiser = AdvertiserFactory()
    actor = Actor.system()
    event = services.create_conversion_event(advertiser=advertiser, actor=actor, name="Lead", category="lead")
    campaign = services.create_campaign(
        advertiser=advertiser, actor=actor, name="Leads", objective=Objective.CONVERSIONS,
        budget_micros=9_000_000, conversion_event=event,
    )  # fmt: skip
    ad_group = services.create_ad_group(
        campaign=campaign, actor=actor, name="All", bid_strategy="lowest_cost"
    )
    creative = services.create_creative(
        ad_group=ad_group, actor=actor, name="MPU", format="banner", landing_url="https://example.com/",
        image=png_file(300, 250),
    )  # fmt: skip
    logged = {
        (e.object_type, e.object_id) for e in AuditLog.objects.filter(action="create", advertiser=advertiser)
    }
    assert logged == {
        ("campaigns.ConversionEvent", str(event.pk)),
        ("campaigns.Campaign", str(campaign.pk)),
        ("campaigns.AdGroup", str(ad_group.pk)),
        ("campaigns.Creative", str(creative.pk)),
    }
    image_entry = AuditLog.objects.get(object_type="campaigns.Creative")
    assert image_entry.after["image"] == creative.image.name  # files are logged by their stored name


def test_a_status_change_logs_only_the_status() -> None:
    campaign = servable_campaign()
    user = UserFactory()
    services.change_status(obj=campaign, action="activate", actor=Actor(source="web", user=user))
    services.change_status(obj=campaign, action="pause", actor=Actor(source="web", user=user))
    entries = list(AuditLog.objects.filter(object_type="campaigns.Campaign").order_by("id"))
    assert [(e.action, e.before, e.after) for e in entries] == [
        ("activate", {"status": "draft"}, {"status": "active"}),
        ("pause", {"status": "active"}, {"status": "paused"}),
    ]
    assert {(e.actor_user_id, e.actor_label, e.source) for e in entries} == {(user.pk, user.email, "web")}
    assert campaign.status == Campaign.Status.PAUSED  # the caller's object is refreshed


def test_a_change_that_changes_nothing_is_not_logged() -> None:
    campaign = CampaignFactory()
    services.change_status(obj=campaign, action="archive", actor=Actor.system())
    services.change_status(obj=campaign, action="archive", actor=Actor.system())
    assert AuditLog.objects.filter(action="archive").count() == 1
    assert record(actor=Actor.system(), action="edit", obj=campaign, before={"a": 1}, after={"a": 1}) is None


def test_changed_keeps_only_differing_fields_and_ignores_updated_at() -> None:
    before = {"name": "A", "budget_micros": 1, "updated_at": "t1", "status": "draft"}
    after = {"name": "B", "budget_micros": 1, "updated_at": "t2", "status": "draft"}
    assert changed(before, after) == ({"name": "A"}, {"name": "B"})
    assert changed(None, after) == (None, after)
    assert changed(before, None) == (before, None)


def test_an_api_key_actor_is_labelled_by_key() -> None:
    advertiser = AdvertiserFactory()
    key, _ = issue_api_key(advertiser=advertiser, role=Role.MANAGER, name="CI sync")
    actor = Actor(source=AuditLog.Source.API, api_key=key)
    services.create_conversion_event(advertiser=advertiser, actor=actor, name="Buy", category="purchase")
    entry = AuditLog.objects.get()
    assert entry.actor_api_key == key
    assert entry.actor_user is None
    assert entry.actor_label == f"API key CI sync ({key.prefix})"
    assert entry.source == "api"


def test_actor_from_request() -> None:
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    assert Actor.from_request(request).user is None
    user = UserFactory()
    request.user = user
    actor = Actor.from_request(request, source=AuditLog.Source.ADMIN)
    assert (actor.user, actor.source, actor.label) == (user, "admin", user.email)


def test_snapshot_is_json_safe() -> None:
    ad_group = AdGroupFactory(targeting={"countries": ["US"]})
    data = snapshot(ad_group)
    assert data["campaign_id"] == ad_group.campaign_id
    assert isinstance(data["created_at"], str)
    assert data["targeting"] == {"countries": ["US"]}


# Append-only --------------------------------------------------------------------------------------


def test_the_model_refuses_to_change_or_delete_an_entry(entry: AuditLog) -> None:
    entry.action = "tampered"
    with pytest.raises(ValidationError, match="cannot be changed"):
        entry.save()
    with pytest.raises(ValidationError, match="cannot be deleted"):
        entry.delete()
    assert AuditLog.objects.get(pk=entry.pk).action == "create"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE accounts_auditlog SET action = 'tampered' WHERE id = %s",
        "DELETE FROM accounts_auditlog WHERE id = %s",
    ],
)
def test_the_database_refuses_update_and_delete(entry: AuditLog, sql: str) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [entry.pk])
    assert AuditLog.objects.get(pk=entry.pk).action == "create"


def test_queryset_update_and_delete_are_refused_too(entry: AuditLog) -> None:
    with transaction.atomic(), pytest.raises(DatabaseError):
        AuditLog.objects.filter(pk=entry.pk).update(action="tampered")
    with transaction.atomic(), pytest.raises(DatabaseError):
        AuditLog.objects.filter(pk=entry.pk).delete()
    assert AuditLog.objects.filter(pk=entry.pk, action="create").exists()
