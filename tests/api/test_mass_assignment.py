"""Fields the client may not set (ids, status, review status, spend, owner, agency, a key's use) are
read-only: sent in a body they are ignored, or refused, and never written."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Advertiser, ApiKey, Membership
from campaigns.models import AdGroup, Campaign, Creative
from tests.api.conftest import World

PAST = "2001-01-01T00:00:00Z"


def post(world: World, url: str, body: dict[str, Any], **kwargs: Any) -> Any:
    return world.client("owner_key").post(url, body, format=kwargs.pop("format", "json"), **kwargs)


def patch(world: World, url: str, body: dict[str, Any]) -> Any:
    return world.client("owner_key").patch(url, body, format="json")


def test_a_created_conversion_event_ignores_id_and_created_at(world: World) -> None:
    body = {
        "advertiser": world.mine.advertiser.pk,
        "name": "Lead",
        "category": "lead",
        "id": world.other.conversion_event.pk,
        "created_at": PAST,
    }
    response = post(world, "/api/v1/conversion-events/", body)
    assert response.status_code == 201
    assert response.json()["id"] != world.other.conversion_event.pk
    assert not response.json()["created_at"].startswith("2001")
    world.other.conversion_event.refresh_from_db()
    assert world.other.conversion_event.name == "Purchase"


def test_a_campaign_ignores_status_and_timestamps(world: World) -> None:
    body = {
        "advertiser": world.mine.advertiser.pk,
        "name": "Sneaky",
        "objective": "awareness",
        "budget_micros": 5_000_000,
        "status": "active",
        "delivery": {"state": "delivering", "reason": "trust me"},
        "created_at": PAST,
        "updated_at": PAST,
    }
    response = post(world, "/api/v1/campaigns/", body)
    assert response.status_code == 201
    campaign = Campaign.objects.get(pk=response.json()["id"])
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.created_at.year != 2001


def test_a_campaigns_status_changes_only_by_the_actions(world: World) -> None:
    response = patch(world, f"/api/v1/campaigns/{world.mine.campaign.pk}/", {"status": "active"})
    assert response.status_code == 200
    world.mine.campaign.refresh_from_db()
    assert world.mine.campaign.status == Campaign.Status.DRAFT


def test_a_campaign_cannot_move_to_another_advertiser(world: World) -> None:
    url = f"/api/v1/campaigns/{world.mine.campaign.pk}/"
    sibling = Advertiser.objects.create(agency=world.mine.agency, name="Acme Socks", currency="USD")
    for advertiser in (world.other.advertiser.pk, sibling.pk):
        response = world.client("agency").patch(url, {"advertiser": advertiser}, format="json")
        assert response.status_code == 400
    world.mine.campaign.refresh_from_db()
    assert world.mine.campaign.advertiser_id == world.mine.advertiser.pk


def test_an_ad_group_ignores_what_follows_from_its_campaign(world: World) -> None:
    body = {
        "campaign": world.mine.campaign.pk,
        "name": "Walkers",
        "bid_strategy": "manual_cpm",
        "bid_micros": 1_000_000,
        "advertiser": world.other.advertiser.pk,
        "optimization_goal": "conversions",
        "billing_event": "click",
        "status": "archived",
    }
    response = post(world, "/api/v1/ad-groups/", body)
    assert response.status_code == 201
    ad_group = AdGroup.objects.get(pk=response.json()["id"])
    assert ad_group.advertiser_id == world.mine.advertiser.pk
    assert (ad_group.optimization_goal, ad_group.billing_event) == ("impressions", "impression")
    assert ad_group.status == AdGroup.Status.ACTIVE


def test_an_ad_group_cannot_move_to_another_campaign(world: World) -> None:
    response = patch(
        world, f"/api/v1/ad-groups/{world.mine.ad_group.pk}/", {"campaign": world.other.campaign.pk}
    )
    assert response.status_code == 400
    world.mine.ad_group.refresh_from_db()
    assert world.mine.ad_group.campaign_id == world.mine.campaign.pk


def test_a_creative_cannot_approve_itself(world: World) -> None:
    creative = world.mine.creative
    Creative.objects.filter(pk=creative.pk).update(review_status=Creative.ReviewStatus.PENDING)
    response = patch(
        world,
        f"/api/v1/creatives/{creative.pk}/",
        {
            "review_status": "approved",
            "rejection_reasons": [],
            "review_note": "fine",
            "reviewed_at": PAST,
            "width": 1,
            "height": 1,
            "advertiser": world.other.advertiser.pk,
        },
    )
    assert response.status_code == 200
    creative.refresh_from_db()
    assert creative.review_status == Creative.ReviewStatus.PENDING
    assert (creative.width, creative.height) == (300, 250)
    assert creative.advertiser_id == world.mine.advertiser.pk
    assert creative.review_note == ""


def test_an_edit_to_an_approved_creative_sends_it_back_to_review(world: World) -> None:
    creative = world.mine.creative
    assert creative.review_status == Creative.ReviewStatus.APPROVED
    response = patch(world, f"/api/v1/creatives/{creative.pk}/", {"landing_url": "https://example.com/other"})
    assert response.status_code == 200
    assert response.json()["review_status"] == "pending"


def test_an_advertiser_ignores_status(world: World) -> None:
    response = patch(world, f"/api/v1/advertisers/{world.mine.advertiser.pk}/", {"status": "closed"})
    assert response.status_code == 200
    world.mine.advertiser.refresh_from_db()
    assert world.mine.advertiser.status == Advertiser.Status.ACTIVE


def test_an_advertiser_cannot_move_to_another_agency(world: World) -> None:
    url = f"/api/v1/advertisers/{world.mine.advertiser.pk}/"
    response = world.client("agency").patch(url, {"agency": world.other.agency.pk}, format="json")
    assert response.status_code == 400
    world.mine.advertiser.refresh_from_db()
    assert world.mine.advertiser.agency_id == world.mine.agency.pk


def test_a_new_advertiser_ignores_status(world: World) -> None:
    body = {"name": "Acme Boots", "currency": "EUR", "time_zone": "UTC", "status": "suspended", "id": 1}
    response = world.client("agency").post("/api/v1/advertisers/", body, format="json")
    assert response.status_code == 201
    assert Advertiser.objects.get(name="Acme Boots").status == Advertiser.Status.ACTIVE


@pytest.mark.parametrize(
    "field,value",
    [
        ("revoked_at", PAST),
        ("last_used_at", PAST),
        ("is_active", False),
        ("created_by", "someone@example.com"),
        ("prefix", "000000000000"),
        ("secret_hash", "0" * 64),
        ("token", "adw_000000000000_chosen-by-me"),
        ("created_at", PAST),
    ],
)
def test_a_new_api_key_ignores_what_the_platform_sets(world: World, field: str, value: Any) -> None:
    body = {"name": "CI", "advertiser": world.mine.advertiser.pk, "role": "analyst", field: value}
    response = post(world, "/api/v1/api-keys/", body)
    assert response.status_code == 201
    key = ApiKey.objects.get(pk=response.json()["id"])
    assert key.revoked_at is None and key.is_active
    assert key.prefix != "000000000000" and key.secret_hash != "0" * 64
    assert response.json()["token"] != "adw_000000000000_chosen-by-me"
    assert ApiKey.authenticate(response.json()["token"]) == key
    assert key.created_at.year != 2001


def test_a_membership_keeps_its_user_and_scope(world: World) -> None:
    member = world.mine.member
    response = patch(
        world,
        f"/api/v1/members/{member.pk}/",
        {
            "role": "analyst",
            "advertiser": world.other.advertiser.pk,
            "agency": world.mine.agency.pk,
            "user": world.owner.pk,
            "email": world.owner.email,
        },
    )
    assert response.status_code in (200, 400)
    member = Membership.objects.get(pk=member.pk)
    assert member.advertiser_id == world.mine.advertiser.pk
    assert member.agency_id is None
    assert member.user_id == world.mine.member.user_id


def test_bulk_items_ignore_read_only_fields(world: World) -> None:
    items = [
        {
            "advertiser": world.mine.advertiser.pk,
            "name": "Bulk sneaky",
            "objective": "awareness",
            "budget_micros": 1_000_000,
            "status": "active",
        },
        {"id": world.mine.campaign.pk, "status": "archived"},
    ]
    response = post(world, "/api/v1/campaigns/bulk/", {"items": items})
    assert response.status_code == 200
    assert Campaign.objects.get(name="Bulk sneaky").status == Campaign.Status.DRAFT
    world.mine.campaign.refresh_from_db()
    assert world.mine.campaign.status == Campaign.Status.DRAFT
