"""POST /api/v1/{campaigns,ad-groups,creatives}/bulk: up to 1,000 creates and updates, each item
checked and audited as a single request is, with a result per item; all-or-nothing on request."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditLog, Role
from campaigns.api.bulk import MAX_ITEMS, BulkWrite
from campaigns.models import AdGroup, Campaign, Creative
from tests.campaigns.test_api_campaigns import (
    Callers,
    audit_entries,
    campaign_body,
    error_of,
    make_callers,
    violation,
)
from tests.conftest import Tenants
from tests.factories import (
    AdGroupFactory,
    AdvertiserFactory,
    CampaignFactory,
    CreativeFactory,
    MembershipFactory,
    approved_creative,
    image_bytes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def callers(tenants: Tenants, redis_client: Any) -> Callers:
    return make_callers(tenants)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


CAMPAIGNS = "/api/v1/campaigns/bulk"
AD_GROUPS = "/api/v1/ad-groups/bulk"
CREATIVES = "/api/v1/creatives/bulk"


def non_field(error: dict[str, Any]) -> list[str]:
    """An error's messages about no field in particular. accounts/api/errors.py still passes Django's
    "__all__" key through for full_clean() errors; the API's key is "non_field_errors"."""
    fields = error["fields"]
    assert set(fields) <= {"non_field_errors", "__all__"}, fields
    return fields.get("non_field_errors") or fields["__all__"]


def results_of(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"results"}
    return response.json()["results"]


# Mixed success and failure ---------------------------------------------------------------------------


def test_each_item_succeeds_or_fails_on_its_own(callers: Callers) -> None:
    existing = CampaignFactory(advertiser=callers.advertiser, name="Existing", budget_micros=1_000_000)
    items = [
        campaign_body(callers.advertiser, name="One"),
        campaign_body(callers.advertiser, name="Two", budget_type="lifetime"),  # no end date
        {"id": existing.pk, "budget_micros": 9_000_000, "status": "active"},
        campaign_body(callers.advertiser, name="Three", budget_micros="lots"),
        "not an object",
        campaign_body(callers.advertiser, name="Four"),
    ]

    results = results_of(callers.owner.post(CAMPAIGNS, {"items": items}))

    created = {c.name: c for c in Campaign.objects.exclude(pk=existing.pk)}
    assert set(created) == {"One", "Four"}
    assert results[0] == {"index": 0, "id": created["One"].pk, "status": "created"}
    assert results[1] == {
        "index": 1,
        "error": {
            "code": "invalid",
            "message": "ends_at: A lifetime budget needs an end date.",
            "fields": {"ends_at": ["A lifetime budget needs an end date."]},
        },
    }
    assert results[2] == {"index": 2, "id": existing.pk, "status": "updated"}
    assert list(results[3]["error"]["fields"]) == ["budget_micros"]
    assert results[4]["error"] == {
        "code": "invalid",
        "message": "An item is a JSON object.",
        "fields": {"non_field_errors": ["An item is a JSON object."]},
    }
    assert results[5] == {"index": 5, "id": created["Four"].pk, "status": "created"}
    existing.refresh_from_db()
    assert (existing.budget_micros, existing.status) == (9_000_000, "draft")  # status is read-only here too


def test_every_write_is_audited_like_a_single_one(callers: Callers) -> None:
    existing = CampaignFactory(advertiser=callers.advertiser, budget_micros=1_000_000)
    items = [campaign_body(callers.advertiser), {"id": existing.pk, "budget_micros": 2_000_000},
             {"id": existing.pk, "name": existing.name} | {"id": existing.pk}]  # fmt: skip

    results = results_of(callers.owner.post(CAMPAIGNS, {"items": items}))

    created = Campaign.objects.get(pk=results[0]["id"])
    [create] = audit_entries(created)
    assert (create.action, create.source, create.actor_api_key_id) == ("create", "api", callers.owner.key.pk)
    assert create.after["name"] == "Spring sale" and create.before is None
    assert create.actor_label == f"API key {callers.owner.key.name} ({callers.owner.key.prefix})"
    [update] = audit_entries(existing)
    assert (update.action, update.before, update.after) == (
        "update",
        {"budget_micros": 1_000_000},
        {"budget_micros": 2_000_000},
    )
    assert update.advertiser_id == callers.advertiser.pk
    assert results[2]["error"]["fields"] == {
        "id": ["Item 1 already updates this object; send one item per object."]
    }


def test_a_bulk_audit_entry_is_the_entry_a_single_create_writes(callers: Callers) -> None:
    single = callers.owner.post("/api/v1/campaigns", campaign_body(callers.advertiser, name="Single"))
    [bulk] = results_of(
        callers.owner.post(CAMPAIGNS, {"items": [campaign_body(callers.advertiser, name="Bulk")]})
    )

    def logged(pk: int) -> dict[str, Any]:
        [entry] = AuditLog.objects.filter(object_id=str(pk)).values()
        return {
            k: v
            for k, v in entry.items()
            if k not in ("id", "object_id", "object_repr", "after", "created_at")
        }

    assert logged(bulk["id"]) == logged(single.json()["id"])


# All or nothing ---------------------------------------------------------------------------------------


def test_all_or_nothing_writes_nothing_when_an_item_fails(callers: Callers) -> None:
    existing = CampaignFactory(advertiser=callers.advertiser, budget_micros=1_000_000)
    items = [
        campaign_body(callers.advertiser, name="One"),
        {"id": existing.pk, "budget_micros": 5_000_000},
        campaign_body(callers.advertiser, name="Two", objective="fame"),
    ]

    response = callers.owner.post(CAMPAIGNS, {"items": items, "all_or_nothing": True})

    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "invalid"
    assert body["error"]["message"] == "1 of 3 items are not valid; nothing was written."
    assert list(body["error"]["fields"]) == ["items[2].objective"]
    assert body["results"][:2] == [{"index": 0, "status": "skipped"}, {"index": 1, "status": "skipped"}]
    assert list(body["results"][2]["error"]["fields"]) == ["objective"]
    assert list(Campaign.objects.all()) == [existing]
    existing.refresh_from_db()
    assert existing.budget_micros == 1_000_000
    assert not AuditLog.objects.exists()


def test_all_or_nothing_writes_everything_when_all_items_pass(callers: Callers) -> None:
    items = [campaign_body(callers.advertiser, name=f"C{i}") for i in range(3)]

    results = results_of(callers.owner.post(CAMPAIGNS, {"items": items, "all_or_nothing": True}))

    assert [r["status"] for r in results] == ["created"] * 3
    assert Campaign.objects.count() == 3 and AuditLog.objects.count() == 3


def test_all_or_nothing_rolls_back_on_a_database_error(callers: Callers, monkeypatch: Any) -> None:
    monkeypatch.setattr(BulkWrite, "check_unique", lambda self, items: None)  # let a duplicate reach SQL
    items = [campaign_body(callers.advertiser, name="Same"), campaign_body(callers.advertiser, name="Same")]

    response = callers.owner.post(CAMPAIGNS, {"items": items, "all_or_nothing": True})

    assert response.status_code == 400
    results = response.json()["results"]
    assert results[0] == {"index": 0, "status": "skipped"}
    assert non_field(results[1]["error"]) == [violation(Campaign, "campaign_name_unique_per_advertiser")]
    assert not Campaign.objects.exists() and not AuditLog.objects.exists()


def test_a_database_error_loses_only_its_own_item(callers: Callers, monkeypatch: Any) -> None:
    monkeypatch.setattr(BulkWrite, "check_unique", lambda self, items: None)
    items = [campaign_body(callers.advertiser, name=name) for name in ("Same", "Same", "Other")]

    results = results_of(callers.owner.post(CAMPAIGNS, {"items": items}))

    assert [r.get("status") for r in results] == ["created", None, "created"]
    assert results[1]["error"]["code"] == "invalid"
    assert set(Campaign.objects.values_list("name", flat=True)) == {"Same", "Other"}
    assert AuditLog.objects.count() == 2


# Uniqueness, checked for the whole batch ----------------------------------------------------------------


def test_unique_names_within_the_batch_and_against_stored_campaigns(callers: Callers) -> None:
    CampaignFactory(advertiser=callers.advertiser, name="Taken")
    archived = CampaignFactory(advertiser=callers.advertiser, name="Old")
    archived.archive()
    renamed = CampaignFactory(advertiser=callers.advertiser, name="Freed")
    items = [
        campaign_body(callers.advertiser, name="Taken"),
        campaign_body(callers.advertiser, name="New"),
        campaign_body(callers.advertiser, name="New"),
        campaign_body(callers.advertiser, name="Old"),  # archived names are free again
        {"id": renamed.pk, "name": "Renamed"},
        campaign_body(callers.advertiser, name="Freed"),  # freed by the rename above
    ]

    results = results_of(callers.owner.post(CAMPAIGNS, {"items": items}))

    assert [r.get("status") for r in results] == [None, "created", None, "created", "updated", "created"]
    assert non_field(results[0]["error"]) == [violation(Campaign, "campaign_name_unique_per_advertiser")]
    assert results[2]["error"] == results[0]["error"]


def test_the_batch_message_is_the_single_requests_message(callers: Callers) -> None:
    CampaignFactory(advertiser=callers.advertiser, name="Taken")

    single = error_of(
        callers.owner.post("/api/v1/campaigns", campaign_body(callers.advertiser, name="Taken")), 400
    )
    [bulk] = results_of(
        callers.owner.post(CAMPAIGNS, {"items": [campaign_body(callers.advertiser, name="Taken")]})
    )

    assert bulk["error"] == single


# Who may write what -------------------------------------------------------------------------------------


def test_each_item_is_checked_against_its_own_advertiser(callers: Callers) -> None:
    read_only = AdvertiserFactory(agency=callers.advertiser.agency)
    MembershipFactory(user=callers.tenants.owner, advertiser=read_only, role=Role.ANALYST)
    theirs = CampaignFactory(advertiser=callers.tenants.other_advertiser)
    read_only_campaign = CampaignFactory(advertiser=read_only)
    items = [
        campaign_body(callers.advertiser, name="Mine"),
        campaign_body(read_only, name="Analyst's"),
        campaign_body(callers.tenants.other_advertiser, name="Theirs"),
        {"id": theirs.pk, "name": "Hijacked"},
        {"id": read_only_campaign.pk, "name": "Changed"},
        campaign_body(read_only, name="Also invalid", objective="fame"),
    ]

    results = results_of(callers.owner_session.post(CAMPAIGNS, {"items": items}))

    assert results[0]["status"] == "created"
    assert results[1]["error"] == {
        "code": "permission_denied",
        "message": "Your role on this account is read only.",
        "fields": {},
    }
    assert list(results[2]["error"]["fields"]) == ["advertiser"]  # unknown, as in a single request
    assert results[3]["error"]["code"] == "not_found"
    assert results[4]["error"]["code"] == "permission_denied"
    assert results[5]["error"]["code"] == "permission_denied"  # the role is checked before the fields
    assert set(Campaign.objects.values_list("name", flat=True)) == {
        "Mine",
        theirs.name,
        read_only_campaign.name,
    }


def test_an_analyst_key_writes_nothing(callers: Callers) -> None:
    items = [campaign_body(callers.advertiser, name=f"C{i}") for i in range(3)]

    results = results_of(callers.analyst.post(CAMPAIGNS, {"items": items}))

    assert {r["error"]["code"] for r in results} == {"permission_denied"}
    assert not Campaign.objects.exists()


def test_items_count_against_their_advertisers_rate_limit(callers: Callers, settings: Any) -> None:
    settings.API_RATE_LIMIT_PER_ADVERTISER = 5
    items = [campaign_body(callers.advertiser, name=f"C{i}") for i in range(6)]

    response = callers.owner.post(CAMPAIGNS, {"items": items})

    assert error_of(response, 429)["code"] == "throttled"
    assert response["Retry-After"]
    assert not Campaign.objects.exists()


# The envelope ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": [{}] * (MAX_ITEMS + 1)}, "items"),
        ({}, "items"),
        ({"items": {"name": "x"}}, "items"),
        ({"items": [], "all_or_nothing": "perhaps"}, "all_or_nothing"),
    ],
)
def test_a_bad_envelope_is_a_400(callers: Callers, body: dict[str, Any], field: str) -> None:
    error = error_of(callers.owner.post(CAMPAIGNS, body), 400)

    assert list(error["fields"]) == [field]
    assert not Campaign.objects.exists()


def test_more_than_a_thousand_items_names_the_limit(callers: Callers) -> None:
    items = [campaign_body(callers.advertiser, name=f"C{i}") for i in range(MAX_ITEMS + 1)]

    error = error_of(callers.owner.post(CAMPAIGNS, {"items": items}), 400)

    assert error["fields"] == {"items": [f"Ensure this field has no more than {MAX_ITEMS} elements."]}


def test_bulk_takes_json_only(callers: Callers) -> None:
    response = callers.owner.client.post(CAMPAIGNS, {"items": "x"})  # multipart

    assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_an_idempotent_retry_replays_the_results(callers: Callers) -> None:
    body = {"items": [campaign_body(callers.advertiser)]}

    first = callers.owner.post(CAMPAIGNS, body, **{"Idempotency-Key": "bulk-1"})
    again = callers.owner.post(CAMPAIGNS, body, **{"Idempotency-Key": "bulk-1"})

    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Campaign.objects.count() == 1


# Ad groups and creatives -------------------------------------------------------------------------------


def test_ad_groups_in_bulk_with_targeting_paths(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser)
    foreign = CampaignFactory(advertiser=callers.tenants.other_advertiser)
    group = AdGroupFactory(campaign=campaign, name="Existing")
    base = {"campaign": campaign.pk, "bid_strategy": "manual_cpm", "bid_micros": 1_000_000}
    items = [
        {**base, "name": "FR", "targeting": {"countries": ["FR"]}},
        {
            **base,
            "name": "Bad",
            "targeting": {"countries": ["FR", "ZZ"], "age_ranges": [{"min": 5, "max": 9}]},
        },
        {**base, "campaign": foreign.pk, "name": "Foreign"},
        {"id": group.pk, "targeting": {"device_types": ["tablet"]}},
        {"id": group.pk + 1000, "name": "Missing"},
        {**base, "name": "Existing"},  # unique per campaign
        {**base, "name": "Moved", "id": group.pk, "campaign": foreign.pk},
    ]

    results = results_of(callers.owner.post(AD_GROUPS, {"items": items}))

    assert results[0]["status"] == "created"
    assert results[1]["error"]["fields"] == {
        "targeting.countries[1]": ["'ZZ' is not an ISO 3166-1 country code."],
        "targeting.age_ranges[0]": ["Ages are between 13 and 100."],
    }
    assert list(results[2]["error"]["fields"]) == ["campaign"]
    assert results[3] == {"index": 3, "id": group.pk, "status": "updated"}
    assert results[4]["error"]["code"] == "not_found"
    assert non_field(results[5]["error"]) == [violation(AdGroup, "ad_group_name_unique_per_campaign")]
    assert results[6]["error"]["fields"]["id"]  # the same object twice in one request
    group.refresh_from_db()
    assert group.targeting["device_types"] == ["tablet"] and group.campaign == campaign
    created = AdGroup.objects.get(pk=results[0]["id"])
    assert (created.advertiser, created.optimization_goal) == (callers.advertiser, "impressions")


def test_creatives_in_bulk_with_data_uri_images(callers: Callers) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)
    approved = approved_creative(ad_group=group, name="Approved")
    png = f"data:image/png;base64,{base64.b64encode(image_bytes(300, 250)).decode()}"
    wrong = f"data:image/png;base64,{base64.b64encode(image_bytes(301, 250)).decode()}"
    base = {"ad_group": group.pk, "format": "banner", "landing_url": "https://example.com/"}
    items = [
        {**base, "name": "One", "image": png, "review_status": "approved"},
        {**base, "name": "Wrong size", "image": wrong},
        {**base, "name": "Two", "image": png},
        {"id": approved.pk, "landing_url": "https://example.com/changed"},
    ]

    results = results_of(callers.owner.post(CREATIVES, {"items": items}))

    assert [r.get("status") for r in results] == ["created", None, "created", "updated"]
    assert list(results[1]["error"]["fields"]) == ["image"]
    one = Creative.objects.get(pk=results[0]["id"])
    assert (one.review_status, one.width, one.height, one.advertiser) == (
        "pending",
        300,
        250,
        callers.advertiser,
    )
    assert one.image.name != Creative.objects.get(pk=results[2]["id"]).image.name
    approved.refresh_from_db()
    assert approved.review_status == "pending"  # its content changed: back to review
    assert AuditLog.objects.filter(object_type="campaigns.Creative").count() == 3


def test_a_creative_for_an_ad_group_the_caller_only_reads(callers: Callers) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)
    creative = CreativeFactory(ad_group=group)

    results = results_of(callers.analyst_session.post(CREATIVES, {"items": [
        {"ad_group": group.pk, "name": "x", "format": "banner", "landing_url": "https://example.com/"},
        {"id": creative.pk, "name": "renamed"},
    ]}))  # fmt: skip

    assert [r["error"]["code"] for r in results] == ["permission_denied", "permission_denied"]


# Speed ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["campaigns", "ad-groups", "creatives"])
def test_queries_do_not_grow_with_the_items_beyond_their_own_writes(callers: Callers, resource: str) -> None:
    """Per created item: its savepoint, its INSERT and the savepoint's release; the rest is constant."""
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)
    png = f"data:image/png;base64,{base64.b64encode(image_bytes(300, 250)).decode()}"
    bodies = {
        "campaigns": lambda name: campaign_body(callers.advertiser, name=name),
        "ad-groups": lambda name: {"campaign": group.campaign_id, "name": name, "bid_strategy": "manual_cpm",
                                   "bid_micros": 1_000_000, "targeting": {"countries": ["FR"]}},
        "creatives": lambda name: {"ad_group": group.pk, "name": name, "format": "banner",
                                   "landing_url": "https://example.com/", "image": png},
    }  # fmt: skip

    def queries(count: int, prefix: str) -> int:
        items = [bodies[resource](f"{prefix}{i}") for i in range(count)]
        with CaptureQueriesContext(connection) as captured:
            assert {
                r["status"]
                for r in results_of(callers.owner.post(f"/api/v1/{resource}/bulk", {"items": items}))
            } == {"created"}
        return len(captured.captured_queries) - 3 * count

    queries(1, "warm")  # the key's last_used_at is written on its first call only
    assert queries(1, "a") == queries(20, "b")


def test_a_thousand_creates_in_one_call(callers: Callers) -> None:
    # How long it takes is the bench's figure (bench/bulk_create.py), never a test's.
    items = [campaign_body(callers.advertiser, name=f"Campaign {i}") for i in range(MAX_ITEMS)]
    results = results_of(callers.owner.post(CAMPAIGNS, {"items": items, "all_or_nothing": True}))
    assert {r["status"] for r in results} == {"created"}
    assert Campaign.objects.count() == MAX_ITEMS and AuditLog.objects.count() == MAX_ITEMS
