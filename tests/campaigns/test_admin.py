"""The platform admin for campaigns, ad groups, creatives (review), conversion events and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.audit import Actor, record, snapshot
from accounts.models import AuditLog, User
from campaigns.models import AdGroup, Campaign, ConversionEvent, Creative, RejectionReason
from campaigns.targeting import Targeting
from tests.admin_helpers import admin_form_data, changelist_queries, messages_of
from tests.conftest import Tenants, client_for
from tests.factories import (
    AdGroupFactory,
    AdvertiserFactory,
    CampaignFactory,
    ConversionEventFactory,
    CreativeFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MODELS = ["campaign", "adgroup", "creative", "conversionevent", "auditlog"]


@dataclass
class World:
    campaign: Campaign
    ad_group: AdGroup
    creative: Creative
    event: ConversionEvent
    entry: AuditLog


@pytest.fixture
def superuser(db: None) -> User:
    return UserFactory.create(email="reviewer@adwright.test", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(superuser: User) -> Client:
    return client_for(superuser)


@pytest.fixture
def world(tenants: Tenants) -> World:
    event = ConversionEventFactory.create(advertiser=tenants.advertiser, name="Purchase")
    # As the other surfaces store them: whole seconds (the admin's date widgets post no
    # microseconds) and normalised targeting.
    starts_at = (timezone.now() - timedelta(days=1)).replace(microsecond=0)
    campaign = CampaignFactory.create(advertiser=tenants.advertiser, name="Spring sale", starts_at=starts_at)
    targeting = Targeting.from_json({"countries": ["US"]}).to_json()
    ad_group = AdGroupFactory.create(campaign=campaign, name="US shoppers", targeting=targeting)
    creative = CreativeFactory.create(ad_group=ad_group, name="Spring banner")
    entry = record(actor=Actor.system(), action="create", obj=campaign, after=snapshot(campaign))
    assert entry is not None
    return World(campaign, ad_group, creative, event, entry)


def objects_of(world: World) -> dict[str, Any]:
    return {
        "campaign": world.campaign,
        "adgroup": world.ad_group,
        "creative": world.creative,
        "conversionevent": world.event,
        "auditlog": world.entry,
    }


def admin_url(model: str, view: str, *args: Any) -> str:
    app = "accounts" if model == "auditlog" else "campaigns"  # the audit log lives in accounts
    return reverse(f"admin:{app}_{model}_{view}", args=args)


def changelist(model: str) -> str:
    return admin_url(model, "changelist")


def run_action(client: Client, model: str, action: str, objects: list[Any], **extra: Any) -> Any:
    data = {"action": action, "_selected_action": [obj.pk for obj in objects], "index": 0, **extra}
    return client.post(changelist(model), data, follow=True)


def admin_entries(obj: Any, action: str) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(
            source=AuditLog.Source.ADMIN, action=action, object_type=obj._meta.label, object_id=str(obj.pk)
        )
    )


# Every page renders, for staff only --------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_changelist_and_change_pages_render(staff_client: Client, world: World, model: str) -> None:
    obj = objects_of(world)[model]
    for url in [
        changelist(model),
        changelist(model) + "?q=spring",
        admin_url(model, "change", obj.pk),
    ]:
        assert staff_client.get(url).status_code == 200, url


@pytest.mark.parametrize("model", ["campaign", "adgroup", "creative", "conversionevent"])
def test_add_pages_render(staff_client: Client, model: str) -> None:
    assert staff_client.get(admin_url(model, "add")).status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_non_staff_is_sent_to_the_admin_login(tenants: Tenants, model: str) -> None:
    response = client_for(tenants.owner).get(changelist(model))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("model", MODELS)
def test_changelists_query_count_does_not_grow_with_rows(
    staff_client: Client, world: World, model: str
) -> None:
    before = changelist_queries(staff_client, changelist(model))
    for _ in range(3):
        advertiser = AdvertiserFactory.create()
        creative = CreativeFactory.create(approved=True, ad_group__campaign__advertiser=advertiser)
        campaign = creative.ad_group.campaign
        AdGroupFactory.create(campaign=campaign)
        ConversionEventFactory.create(advertiser=campaign.advertiser)
        record(actor=Actor.system(), action="create", obj=campaign, after=snapshot(campaign))
    assert changelist_queries(staff_client, changelist(model)) == before


def test_creative_thumbnail_is_escaped(staff_client: Client, world: World) -> None:
    CreativeFactory.create(ad_group=world.ad_group, name='"><script>alert(1)</script>')
    html = staff_client.get(changelist("creative")).content.decode()
    assert "<script>alert(1)" not in html
    assert 'alt="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert f'src="{world.creative.image.url}"' in html


# Statuses go through the rules ---------------------------------------------------------------------


def test_status_is_read_only_on_change_forms(staff_client: Client, world: World) -> None:
    for model, obj in [
        ("campaign", world.campaign),
        ("adgroup", world.ad_group),
        ("creative", world.creative),
    ]:
        form = staff_client.get(admin_url(model, "change", obj.pk)).context["adminform"].form
        assert "status" not in form.fields
        assert "advertiser" not in form.fields


def test_activating_a_campaign_without_an_approved_creative_shows_why(
    staff_client: Client, world: World
) -> None:
    response = run_action(staff_client, "campaign", "activate", [world.campaign])
    assert response.status_code == 200
    assert messages_of(response) == [
        "“Spring sale” was not activated: "
        "The campaign needs at least one active ad group with an approved, active creative."
    ]
    world.campaign.refresh_from_db()
    assert world.campaign.status == Campaign.Status.DRAFT
    assert admin_entries(world.campaign, "activate") == []


def test_activate_then_pause_a_campaign(staff_client: Client, superuser: User, world: World) -> None:
    CreativeFactory.create(approved=True, ad_group=world.ad_group)
    response = run_action(staff_client, "campaign", "activate", [world.campaign])
    assert messages_of(response) == ["1 campaign activated."]
    world.campaign.refresh_from_db()
    assert world.campaign.status == Campaign.Status.ACTIVE
    [entry] = admin_entries(world.campaign, "activate")
    assert (entry.actor_user, entry.before, entry.after) == (
        superuser,
        {"status": "draft"},
        {"status": "active"},
    )

    run_action(staff_client, "campaign", "pause", [world.campaign])
    world.campaign.refresh_from_db()
    assert world.campaign.status == Campaign.Status.PAUSED


def test_errors_are_reported_per_object(staff_client: Client, world: World) -> None:
    archived = CampaignFactory.create(
        advertiser=world.campaign.advertiser, name="Old", status=Campaign.Status.ARCHIVED
    )
    response = run_action(staff_client, "campaign", "pause", [world.campaign, archived])
    assert sorted(messages_of(response)) == [
        "“Old” was not paused: Only an active campaign can be paused; this one is Archived.",
        "“Spring sale” was not paused: Only an active campaign can be paused; this one is Draft.",
    ]


def test_archive_ad_group_and_creative(staff_client: Client, world: World) -> None:
    run_action(staff_client, "creative", "archive", [world.creative])
    run_action(staff_client, "adgroup", "archive", [world.ad_group])
    world.creative.refresh_from_db()
    world.ad_group.refresh_from_db()
    assert world.creative.status == world.ad_group.status == "archived"
    response = run_action(staff_client, "creative", "activate", [world.creative])
    assert "cannot be activated" in messages_of(response)[0]
    assert len(admin_entries(world.creative, "archive")) == len(admin_entries(world.ad_group, "archive")) == 1


# Every save and delete is audited ------------------------------------------------------------------


def test_editing_a_campaign_writes_an_admin_audit_entry(
    staff_client: Client, superuser: User, world: World
) -> None:
    url = reverse("admin:campaigns_campaign_change", args=[world.campaign.pk])
    data = admin_form_data(staff_client.get(url))
    data.update(name="Summer sale", budget_micros=80_000_000)
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    [entry] = admin_entries(world.campaign, "update")
    assert entry.actor_user == superuser
    assert entry.advertiser_id == world.campaign.advertiser_id
    assert entry.before == {"name": "Spring sale", "budget_micros": 50_000_000}
    assert entry.after == {"name": "Summer sale", "budget_micros": 80_000_000}


def test_model_rules_apply_to_edits(staff_client: Client, world: World) -> None:
    url = reverse("admin:campaigns_campaign_change", args=[world.campaign.pk])
    data = admin_form_data(staff_client.get(url))
    data["objective"] = "traffic"
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert "cannot change once the campaign has ad groups" in str(response.context["adminform"].form.errors)
    world.campaign.refresh_from_db()
    assert world.campaign.objective == "awareness"
    assert admin_entries(world.campaign, "update") == []


def test_saving_unchanged_writes_no_entry(staff_client: Client, world: World) -> None:
    url = reverse("admin:campaigns_adgroup_change", args=[world.ad_group.pk])
    assert staff_client.post(url, admin_form_data(staff_client.get(url))).status_code == 302
    assert admin_entries(world.ad_group, "update") == []


def test_editing_an_approved_creative_sends_it_back_to_review(staff_client: Client, world: World) -> None:
    creative = CreativeFactory.create(approved=True, ad_group=world.ad_group)
    url = reverse("admin:campaigns_creative_change", args=[creative.pk])
    data = admin_form_data(staff_client.get(url))
    data["landing_url"] = "https://example.com/other"
    assert staff_client.post(url, data).status_code == 302
    creative.refresh_from_db()
    assert creative.review_status == Creative.ReviewStatus.PENDING
    [entry] = admin_entries(creative, "update")
    assert entry.after is not None
    assert entry.after["review_status"] == "pending"
    assert entry.after["landing_url"] == "https://example.com/other"


def test_adding_a_conversion_event_writes_a_create_entry(staff_client: Client, tenants: Tenants) -> None:
    response = staff_client.post(
        reverse("admin:campaigns_conversionevent_add"),
        {
            "advertiser": tenants.advertiser.pk,
            "name": "Sign-up",
            "category": "sign_up",
            "counting": "one",
            "click_window_days": 7,
            "view_window_days": 1,
            "default_value_micros": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = ConversionEvent.objects.get(name="Sign-up")
    [entry] = admin_entries(event, "create")
    assert entry.before is None
    assert entry.after is not None
    assert entry.after["name"] == "Sign-up"


def test_adding_an_ad_group_through_the_admin(staff_client: Client, world: World) -> None:
    response = staff_client.post(
        reverse("admin:campaigns_adgroup_add"),
        {
            "campaign": world.campaign.pk,
            "name": "EU shoppers",
            "bid_strategy": "manual_cpm",
            "bid_micros": 1_500_000,
            "targeting": '{"countries": ["fr", "DE"]}',
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    ad_group = AdGroup.objects.get(name="EU shoppers")
    assert ad_group.advertiser_id == world.campaign.advertiser_id
    assert ad_group.targeting["countries"] == ["FR", "DE"]
    assert len(admin_entries(ad_group, "create")) == 1


def test_deleting_writes_a_delete_entry(staff_client: Client, world: World) -> None:
    url = reverse("admin:campaigns_conversionevent_delete", args=[world.event.pk])
    assert staff_client.post(url, {"post": "yes"}).status_code == 302
    assert not ConversionEvent.objects.filter(pk=world.event.pk).exists()
    [entry] = admin_entries(world.event, "delete")
    assert entry.before is not None
    assert entry.before["name"] == "Purchase"
    assert entry.after is None


def test_bulk_delete_writes_an_entry_per_object(staff_client: Client, world: World) -> None:
    other = ConversionEventFactory.create(advertiser=world.event.advertiser, name="Lead")
    run_action(staff_client, "conversionevent", "delete_selected", [world.event, other], post="yes")
    assert not ConversionEvent.objects.filter(pk__in=[world.event.pk, other.pk]).exists()
    assert len(admin_entries(world.event, "delete")) == len(admin_entries(other, "delete")) == 1


# Creative review -----------------------------------------------------------------------------------


def test_approve_action(staff_client: Client, superuser: User, world: World) -> None:
    response = run_action(staff_client, "creative", "approve", [world.creative])
    assert messages_of(response) == ["1 creative approved."]
    world.creative.refresh_from_db()
    assert world.creative.review_status == Creative.ReviewStatus.APPROVED
    assert world.creative.reviewed_by == superuser
    [entry] = admin_entries(world.creative, "approve")
    assert entry.after is not None
    assert entry.after["review_status"] == "approved"

    response = run_action(staff_client, "creative", "approve", [world.creative])
    assert messages_of(response) == ["1 creative already approved."]
    assert len(admin_entries(world.creative, "approve")) == 1


def test_reject_asks_for_reasons_first(staff_client: Client, world: World) -> None:
    response = run_action(staff_client, "creative", "reject", [world.creative])
    assert response.status_code == 200
    assert "admin/campaigns/creative/reject_confirmation.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert 'name="reasons" value="misleading_claims"' in html
    assert "Spring banner" in html
    world.creative.refresh_from_db()
    assert world.creative.review_status == Creative.ReviewStatus.PENDING


def test_reject_through_the_confirmation_page_records_reasons(
    staff_client: Client, superuser: User, world: World
) -> None:
    second = CreativeFactory.create(approved=True, ad_group=world.ad_group)
    reasons = [RejectionReason.MISLEADING_CLAIMS, RejectionReason.TRADEMARK]
    response = run_action(
        staff_client, "creative", "reject", [world.creative, second], confirm="yes", reasons=reasons, note=""
    )
    assert messages_of(response) == ["2 creatives rejected."]
    for creative in (world.creative, second):
        creative.refresh_from_db()
        assert creative.review_status == Creative.ReviewStatus.REJECTED
        assert creative.rejection_reasons == ["misleading_claims", "trademark"]
        assert creative.reviewed_by == superuser
        [entry] = admin_entries(creative, "reject")
        assert entry.after is not None
        assert entry.after["rejection_reasons"] == ["misleading_claims", "trademark"]
    changelist_html = staff_client.get(changelist("creative") + "?reason=trademark").content.decode()
    assert "Misleading claims, Trademark infringement" in changelist_html


@pytest.mark.parametrize(
    ("reasons", "note", "error_field"),
    [([], "", "reasons"), (["other"], "  ", "note")],
)
def test_reject_needs_a_reason_and_a_note_for_other(
    staff_client: Client, world: World, reasons: list[str], note: str, error_field: str
) -> None:
    response = run_action(
        staff_client, "creative", "reject", [world.creative], confirm="yes", reasons=reasons, note=note
    )
    assert response.status_code == 200
    assert error_field in response.context["form"].errors
    world.creative.refresh_from_db()
    assert world.creative.review_status == Creative.ReviewStatus.PENDING
    assert admin_entries(world.creative, "reject") == []


def test_rejecting_a_fresh_upload_keeps_it_rejected(staff_client: Client, world: World) -> None:
    fresh = CreativeFactory.create(ad_group=world.ad_group)
    run_action(staff_client, "creative", "reject", [fresh], confirm="yes", reasons=["trademark"], note="")
    fresh.refresh_from_db()
    assert fresh.review_status == Creative.ReviewStatus.REJECTED


def test_reject_as_other_with_a_note(staff_client: Client, world: World) -> None:
    run_action(
        staff_client, "creative", "reject", [world.creative], confirm="yes", reasons=["other"], note="Blurry"
    )
    world.creative.refresh_from_db()
    assert (world.creative.rejection_reasons, world.creative.review_note) == (["other"], "Blurry")


# The audit log is read only ------------------------------------------------------------------------


def test_audit_log_cannot_be_added_changed_or_deleted(staff_client: Client, world: World) -> None:
    entry = world.entry
    assert staff_client.get(reverse("admin:accounts_auditlog_add")).status_code == 403
    assert staff_client.get(reverse("admin:accounts_auditlog_delete", args=[entry.pk])).status_code == 403
    assert (
        staff_client.post(
            reverse("admin:accounts_auditlog_delete", args=[entry.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    change_url = reverse("admin:accounts_auditlog_change", args=[entry.pk])
    html = staff_client.get(change_url).content.decode()
    assert 'name="actor_label"' not in html
    assert 'name="_save"' not in html
    assert staff_client.post(change_url, {"actor_label": "someone else"}).status_code == 403
    listing = staff_client.get(changelist("auditlog"))
    assert listing.context["action_form"] is None  # no actions at all, so no "delete selected"
    run_action(staff_client, "auditlog", "delete_selected", [entry], post="yes")
    entry.refresh_from_db()
    assert entry.actor_label == "system"


def test_audit_log_shows_before_and_after_as_pretty_json(staff_client: Client, world: World) -> None:
    html = staff_client.get(reverse("admin:accounts_auditlog_change", args=[world.entry.pk])).content.decode()
    assert "<pre" in html
    assert "  &quot;name&quot;: &quot;Spring sale&quot;" in html


def test_audit_log_filters(staff_client: Client, world: World) -> None:
    url = changelist("auditlog")
    for query in [
        "?source=admin",
        "?source=system",
        "?object_type=campaigns.Campaign",
        f"?q={world.campaign.pk}",
    ]:
        assert staff_client.get(url + query).status_code == 200, query
    response = staff_client.get(url + "?object_type=campaigns.Creative")
    assert list(response.context["cl"].result_list) == []
    response = staff_client.get(url + "?object_type=campaigns.Campaign&source=system")
    assert list(response.context["cl"].result_list) == [world.entry]
