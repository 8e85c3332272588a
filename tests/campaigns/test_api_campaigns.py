"""/api/v1/campaigns: create, read, update, list (filters, ordering, constant queries), the status
actions and duplication, tried by the owner (API key and session), an analyst and an outsider.

The helpers at the top (`Caller`, `callers`) are shared by the other tests/campaigns/test_api_*.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import models
from django.test import Client
from django.utils import timezone

from accounts.models import Advertiser, ApiKey, AuditLog, Role
from campaigns.models import AdGroup, Campaign, Creative, Objective
from tests.conftest import Tenants, client_for
from tests.factories import (
    AdGroupFactory,
    AdvertiserFactory,
    CampaignFactory,
    ConversionEventFactory,
    CreativeFactory,
    MembershipFactory,
    approved_creative,
    issue_api_key,
    servable_campaign,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns"


# Shared helpers -------------------------------------------------------------------------------------


class Caller:
    """One API caller (an API key or a browser session) with JSON helpers."""

    def __init__(self, client: Client, key: ApiKey | None = None) -> None:
        self.client = client
        self.key = key

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(path, params or {})

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return self.client.post(path, body or {}, content_type="application/json", headers=headers)

    def patch(self, path: str, body: Any, **headers: str) -> Any:
        return self.client.patch(path, body, content_type="application/json", headers=headers)

    def put(self, path: str, body: Any, **headers: str) -> Any:
        return self.client.put(path, body, content_type="application/json", headers=headers)


def key_caller(*, role: str = Role.ADMIN, **scope: Any) -> Caller:
    key, token = issue_api_key(role=role, **scope)
    return Caller(Client(HTTP_AUTHORIZATION=f"Bearer {token}"), key)


@dataclass
class Callers:
    tenants: Tenants
    owner: Caller  # admin API key of the advertiser
    owner_session: Caller  # the owner, logged in
    analyst: Caller  # analyst (read-only) API key of the advertiser
    analyst_session: Caller
    outsider: Caller  # admin API key of another advertiser

    @property
    def advertiser(self) -> Advertiser:
        return self.tenants.advertiser


def make_callers(tenants: Tenants) -> Callers:
    """The callers of a test module's `callers` fixture (with `redis_client`, so that rate limits and
    Idempotency-Keys start afresh)."""
    return Callers(
        tenants=tenants,
        owner=key_caller(advertiser=tenants.advertiser),
        owner_session=Caller(client_for(tenants.owner)),
        analyst=key_caller(role=Role.ANALYST, advertiser=tenants.advertiser),
        analyst_session=Caller(client_for(tenants.analyst)),
        outsider=key_caller(advertiser=tenants.other_advertiser),
    )


@pytest.fixture
def callers(tenants: Tenants, redis_client: Any) -> Callers:
    return make_callers(tenants)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]


def violation(model: type[models.Model], name: str) -> str:
    """The message of one of the model's constraints, as full_clean() gives it."""
    [constraint] = [c for c in model._meta.constraints if c.name == name]
    return constraint.get_violation_error_message()


def audit_entries(obj: Any) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(object_type=obj._meta.label, object_id=str(obj.pk)).order_by(
            "created_at", "id"
        )
    )


# Create -------------------------------------------------------------------------------------------


def campaign_body(advertiser: Advertiser, **fields: Any) -> dict[str, Any]:
    return {
        "advertiser": advertiser.pk,
        "name": "Spring sale",
        "objective": "traffic",
        "budget_micros": 50_000_000,
        **fields,
    }


@pytest.mark.parametrize("who", ["owner", "owner_session"])
def test_an_editor_creates_a_draft_campaign(callers: Callers, who: str) -> None:
    response = getattr(callers, who).post(URL, campaign_body(callers.advertiser, pacing="accelerated"))

    assert response.status_code == 201, response.content
    body = response.json()
    campaign = Campaign.objects.get(pk=body["id"])
    assert (campaign.advertiser, campaign.name, campaign.status) == (
        callers.advertiser,
        "Spring sale",
        "draft",
    )
    assert body["budget_micros"] == 50_000_000 and body["pacing"] == "accelerated"
    assert body["delivery"] == {"state": "draft", "reason": "Not published yet."}
    assert response["Location"].endswith(f"/api/v1/campaigns/{campaign.pk}")
    assert response["ETag"]
    [entry] = audit_entries(campaign)
    assert (entry.action, entry.source, entry.advertiser_id) == ("create", "api", callers.advertiser.pk)
    if who == "owner":
        assert entry.actor_api_key_id == callers.owner.key.pk
    else:
        assert entry.actor_user_id == callers.tenants.owner.pk


def test_read_only_and_unknown_fields_are_ignored(callers: Callers) -> None:
    body = campaign_body(
        callers.advertiser,
        id=999_999,
        status="active",
        delivery={"state": "delivering"},
        spend_micros=123,
        created_at="2001-01-01T00:00:00Z",
    )
    response = callers.owner.post(URL, body)

    assert response.status_code == 201, response.content
    campaign = Campaign.objects.get()
    assert campaign.pk != 999_999
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.created_at.year == timezone.now().year


def test_an_advertiser_of_another_tenant_is_unknown(callers: Callers) -> None:
    response = callers.owner.post(URL, campaign_body(callers.tenants.other_advertiser))

    error = error_of(response, 400)
    assert list(error["fields"]) == ["advertiser"]
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("who", ["analyst", "analyst_session"])
def test_an_analyst_cannot_create(callers: Callers, who: str) -> None:
    error = error_of(getattr(callers, who).post(URL, campaign_body(callers.advertiser)), 403)

    assert error["code"] == "permission_denied"
    assert not Campaign.objects.exists()


def test_no_credentials_no_campaigns(callers: Callers) -> None:
    assert Client().get(URL).status_code == 401


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"budget_micros": 12.5}, "budget_micros"),
        ({"budget_micros": "12.50"}, "budget_micros"),
        ({"budget_micros": 0}, "budget_micros"),
        ({"budget_micros": 10**16}, "budget_micros"),
        ({"objective": "fame"}, "objective"),
        ({"budget_type": "lifetime"}, "ends_at"),  # the model's rule: a lifetime budget needs an end
        ({"frequency_cap_impressions": 3}, "frequency_cap_period"),
        ({"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),
    ],
)
def test_invalid_campaigns_are_refused_naming_the_field(
    callers: Callers, fields: dict[str, Any], path: str
) -> None:
    error = error_of(callers.owner.post(URL, campaign_body(callers.advertiser, **fields)), 400)

    assert error["code"] == "invalid"
    assert path in error["fields"], error
    assert not Campaign.objects.exists()


def test_a_conversions_campaign_takes_its_advertisers_conversion_event(callers: Callers) -> None:
    event = ConversionEventFactory(advertiser=callers.advertiser)
    foreign = ConversionEventFactory(advertiser=callers.tenants.other_advertiser)

    refused = callers.owner.post(
        URL, campaign_body(callers.advertiser, objective="conversions", conversion_event=foreign.pk)
    )
    created = callers.owner.post(
        URL, campaign_body(callers.advertiser, objective="conversions", conversion_event=event.pk)
    )

    assert list(error_of(refused, 400)["fields"]) == ["conversion_event"]
    assert created.status_code == 201
    assert created.json()["conversion_event"] == event.pk


def test_a_conversion_event_of_another_of_my_advertisers_is_refused(callers: Callers) -> None:
    sister = AdvertiserFactory(agency=callers.advertiser.agency)
    agency_key = key_caller(agency=callers.advertiser.agency)
    event = ConversionEventFactory(advertiser=sister)

    response = agency_key.post(
        URL, campaign_body(callers.advertiser, objective="conversions", conversion_event=event.pk)
    )

    assert error_of(response, 400)["fields"] == {
        "conversion_event": ["The conversion event belongs to another account."]
    }


def test_names_are_unique_per_advertiser(callers: Callers) -> None:
    CampaignFactory(advertiser=callers.advertiser, name="Spring sale")

    error = error_of(callers.owner.post(URL, campaign_body(callers.advertiser)), 400)

    # The model's constraint, as full_clean() words it (accounts/api/errors.py still passes Django's
    # "__all__" key through; the API's key for it is "non_field_errors").
    assert list(error["fields"].values()) == [[violation(Campaign, "campaign_name_unique_per_advertiser")]]
    assert Campaign.objects.count() == 1


# Read ---------------------------------------------------------------------------------------------


def test_retrieve_says_how_it_delivers(callers: Callers) -> None:
    campaign = servable_campaign(advertiser=callers.advertiser)
    campaign.activate()

    response = callers.analyst.get(f"{URL}/{campaign.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "active"
    assert body["delivery"] == {"state": "delivering", "reason": "Delivering."}
    assert response["ETag"]


def test_another_tenants_campaign_is_not_found(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser)

    for response in (
        callers.outsider.get(f"{URL}/{campaign.pk}"),
        callers.outsider.patch(f"{URL}/{campaign.pk}", {"name": "Mine"}),
        callers.outsider.post(f"{URL}/{campaign.pk}/archive"),
        callers.outsider.post(f"{URL}/{campaign.pk}/duplicate"),
    ):
        assert error_of(response, 404)["code"] == "not_found"
    campaign.refresh_from_db()
    assert campaign.status == "draft" and Campaign.objects.count() == 1


def test_campaigns_are_never_deleted(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser)

    assert callers.owner.client.delete(f"{URL}/{campaign.pk}").status_code == 405
    assert Campaign.objects.filter(pk=campaign.pk).exists()


# List ----------------------------------------------------------------------------------------------


def test_the_list_shows_only_the_callers_campaigns(callers: Callers) -> None:
    mine = CampaignFactory(advertiser=callers.advertiser)
    theirs = CampaignFactory(advertiser=callers.tenants.other_advertiser)

    mine_seen = [row["id"] for row in callers.analyst_session.get(URL).json()["results"]]
    theirs_seen = [row["id"] for row in callers.outsider.get(URL).json()["results"]]

    assert mine_seen == [mine.pk]
    assert theirs_seen == [theirs.pk]


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_filters(callers: Callers) -> None:
    now = timezone.now()
    other = AdvertiserFactory(agency=callers.advertiser.agency)
    agency_key = key_caller(agency=callers.advertiser.agency)
    draft = CampaignFactory(advertiser=callers.advertiser, objective=Objective.AWARENESS)
    paused = CampaignFactory(
        advertiser=callers.advertiser,
        objective=Objective.TRAFFIC,
        status=Campaign.Status.PAUSED,
        starts_at=now + timedelta(days=10),
    )
    lifetime = CampaignFactory(
        advertiser=other, budget_type="lifetime", ends_at=now + timedelta(days=30), status="archived"
    )
    Campaign.objects.filter(pk=draft.pk).update(created_at=now - timedelta(days=5))

    def listed(**params: Any) -> set[int]:
        return set(ids(agency_key.get(URL, params)))

    assert listed() == {draft.pk, paused.pk, lifetime.pk}
    assert listed(status="paused") == {paused.pk}
    assert listed(status=["paused", "archived"]) == {paused.pk, lifetime.pk}
    assert listed(objective="awareness") == {draft.pk, lifetime.pk}
    assert listed(advertiser=other.pk) == {lifetime.pk}
    assert listed(advertiser=callers.tenants.other_advertiser.pk) == set()
    assert listed(budget_type="lifetime") == {lifetime.pk}
    assert listed(created_before=(now - timedelta(days=1)).isoformat()) == {draft.pk}
    assert listed(created_after=(now - timedelta(days=1)).isoformat()) == {paused.pk, lifetime.pk}
    assert listed(starts_after=(now + timedelta(days=1)).isoformat()) == {paused.pk}
    assert listed(ends_before=(now + timedelta(days=60)).isoformat()) == {lifetime.pk}


@pytest.mark.parametrize(
    "params",
    [
        {"status": "sleeping"},
        {"created_after": "yesterday"},
        {"advertiser": "acme"},
        {"created_after": "0001-01-01T00:00:00+05:00"},  # before year 1 in UTC
        {"ends_before": "9999-12-31T23:59:59-05:00"},  # after year 9999 in UTC
    ],
)
def test_invalid_filters_answer_400(callers: Callers, params: dict[str, str]) -> None:
    assert error_of(callers.owner.get(URL, params), 400)["code"] == "invalid"


@pytest.mark.parametrize(
    "params",
    [
        {"starts_before": "0854-01-15T16:54:59.8-18:33"},  # an offset PostgreSQL would refuse
        {"advertiser": str(10**30)},
        {"conversion_event": "-5"},
    ],
)
def test_extreme_filter_values_match_nothing(callers: Callers, params: dict[str, str]) -> None:
    CampaignFactory(advertiser=callers.advertiser)

    assert ids(callers.owner.get(URL, params)) == []


def test_ordering_and_cursor_pages(callers: Callers) -> None:
    for name, budget in [("b", 3), ("a", 1), ("c", 2)]:
        CampaignFactory(advertiser=callers.advertiser, name=name, budget_micros=budget * 1_000_000)

    by_name = callers.owner.get(URL, {"ordering": "name"}).json()["results"]
    by_budget = callers.owner.get(URL, {"ordering": "-budget_micros"}).json()["results"]
    first = callers.owner.get(URL, {"ordering": "name", "page_size": 2}).json()
    second = callers.owner.client.get(first["next"]).json()

    assert [row["name"] for row in by_name] == ["a", "b", "c"]
    assert [row["name"] for row in by_budget] == ["b", "c", "a"]
    assert [row["name"] for row in first["results"] + second["results"]] == ["a", "b", "c"]
    assert second["next"] is None


def test_listing_takes_the_same_queries_for_one_or_many_campaigns(
    callers: Callers, django_assert_num_queries: Any
) -> None:
    def add_campaign() -> None:
        campaign = servable_campaign(advertiser=callers.advertiser)
        campaign.activate()
        AdGroupFactory(campaign=campaign, status=AdGroup.Status.PAUSED)
        CreativeFactory(ad_group=campaign.ad_groups.first())

    add_campaign()
    callers.owner.get(URL)  # the key's last_used_at is written on its first call only
    # The key, the campaigns, their ad groups, creatives and budget days, spend in all and today (one).
    with django_assert_num_queries(6) as one:
        rows = callers.owner.get(URL).json()["results"]
    assert [row["delivery"]["state"] for row in rows] == ["delivering"]

    for _ in range(5):
        add_campaign()
    CampaignFactory(advertiser=callers.advertiser)
    with django_assert_num_queries(len(one.captured_queries)):
        rows = callers.owner.get(URL).json()["results"]
    assert len(rows) == 7
    assert [row["delivery"]["state"] for row in rows].count("delivering") == 6


# Update --------------------------------------------------------------------------------------------


def test_an_editor_updates_a_campaign_and_it_is_audited(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser, budget_micros=10_000_000)

    response = callers.owner.patch(f"{URL}/{campaign.pk}", {"budget_micros": 20_000_000, "status": "active"})

    assert response.status_code == 200, response.content
    campaign.refresh_from_db()
    assert (campaign.budget_micros, campaign.status) == (20_000_000, "draft")
    entry = audit_entries(campaign)[-1]
    assert (entry.action, entry.before, entry.after["budget_micros"]) == (
        "update",
        {"budget_micros": 10_000_000},
        20_000_000,
    )


def test_put_replaces_the_writable_fields(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser, pacing="accelerated")

    response = callers.owner.put(f"{URL}/{campaign.pk}", campaign_body(callers.advertiser, name="Renamed"))

    assert response.status_code == 200, response.content
    campaign.refresh_from_db()
    assert (campaign.name, campaign.objective, campaign.pacing) == ("Renamed", "traffic", "accelerated")


def test_a_campaign_cannot_move_to_another_advertiser(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser)
    sister = AdvertiserFactory(agency=callers.advertiser.agency)
    agency_key = key_caller(agency=callers.advertiser.agency)

    error = error_of(agency_key.patch(f"{URL}/{campaign.pk}", {"advertiser": sister.pk}), 400)

    assert list(error["fields"]) == ["advertiser"]
    campaign.refresh_from_db()
    assert campaign.advertiser == callers.advertiser


def test_the_objective_is_fixed_once_there_are_ad_groups(callers: Callers) -> None:
    campaign = AdGroupFactory(campaign__advertiser=callers.advertiser).campaign

    error = error_of(callers.owner.patch(f"{URL}/{campaign.pk}", {"objective": "traffic"}), 400)

    assert list(error["fields"]) == ["objective"]


def test_an_analyst_cannot_update(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser, name="Before")

    error_of(callers.analyst.patch(f"{URL}/{campaign.pk}", {"name": "After"}), 403)

    campaign.refresh_from_db()
    assert campaign.name == "Before"


def test_a_stale_if_match_changes_nothing(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser, name="Before")
    etag = callers.owner.get(f"{URL}/{campaign.pk}")["ETag"]
    Campaign.objects.filter(pk=campaign.pk).update(budget_micros=7_000_000)

    stale = callers.owner.patch(f"{URL}/{campaign.pk}", {"name": "After"}, **{"If-Match": etag})
    fresh_etag = callers.owner.get(f"{URL}/{campaign.pk}")["ETag"]
    fresh = callers.owner.patch(f"{URL}/{campaign.pk}", {"name": "After"}, **{"If-Match": fresh_etag})

    assert error_of(stale, 412)["code"] == "precondition_failed"
    assert fresh.status_code == 200
    assert fresh["ETag"] != fresh_etag


# Actions ----------------------------------------------------------------------------------------------


def test_activate_pause_archive(callers: Callers) -> None:
    campaign = servable_campaign(advertiser=callers.advertiser)

    activated = callers.owner.post(f"{URL}/{campaign.pk}/activate")
    paused = callers.owner.post(f"{URL}/{campaign.pk}/pause")
    archived = callers.owner.post(f"{URL}/{campaign.pk}/archive")

    assert [r.json()["status"] for r in (activated, paused, archived)] == ["active", "paused", "archived"]
    assert activated.json()["delivery"]["state"] == "delivering"
    assert [e.action for e in audit_entries(campaign)] == ["activate", "pause", "archive"]
    assert all(e.source == "api" for e in audit_entries(campaign))


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ("bare", "activate", "at least one active ad group with an approved, active creative"),
        ("bare", "pause", "Only an active campaign can be paused"),
        ("archived", "activate", "An archived campaign cannot be activated; duplicate it instead."),
        ("ended", "activate", "end date has passed"),
    ],
)
def test_refused_transitions_answer_409_with_the_rule(
    callers: Callers, setup: str, action: str, message: str
) -> None:
    campaign = servable_campaign(advertiser=callers.advertiser) if setup != "bare" else None
    campaign = campaign or CampaignFactory(advertiser=callers.advertiser)
    if setup == "archived":
        campaign.archive()
    if setup == "ended":
        Campaign.objects.filter(pk=campaign.pk).update(ends_at=timezone.now() - timedelta(hours=1))
    status_before = Campaign.objects.get(pk=campaign.pk).status

    error = error_of(callers.owner.post(f"{URL}/{campaign.pk}/{action}"), 409)

    assert error["code"] == "invalid_transition"
    assert message in error["message"]
    assert Campaign.objects.get(pk=campaign.pk).status == status_before
    assert not [e for e in audit_entries(campaign) if e.source == "api"]


def test_actions_honour_if_match(callers: Callers) -> None:
    campaign = servable_campaign(advertiser=callers.advertiser)
    etag = callers.owner.get(f"{URL}/{campaign.pk}")["ETag"]
    Campaign.objects.filter(pk=campaign.pk).update(name="Renamed meanwhile")

    stale = callers.owner.post(f"{URL}/{campaign.pk}/activate", **{"If-Match": etag})
    fresh = callers.owner.post(
        f"{URL}/{campaign.pk}/activate", **{"If-Match": callers.owner.get(f"{URL}/{campaign.pk}")["ETag"]}
    )

    assert error_of(stale, 412)["code"] == "precondition_failed"
    assert fresh.status_code == 200 and fresh.json()["status"] == "active"


@pytest.mark.parametrize("action", ["activate", "pause", "archive", "duplicate"])
def test_an_analyst_cannot_use_actions(callers: Callers, action: str) -> None:
    campaign = servable_campaign(advertiser=callers.advertiser)

    error_of(callers.analyst_session.post(f"{URL}/{campaign.pk}/{action}"), 403)

    assert Campaign.objects.get().status == "draft"


# Duplicate -------------------------------------------------------------------------------------------


def test_duplicate_copies_the_structure_as_a_draft(callers: Callers) -> None:
    event = ConversionEventFactory(advertiser=callers.advertiser)
    campaign = CampaignFactory(
        advertiser=callers.advertiser,
        name="Spring sale",
        objective=Objective.CONVERSIONS,
        conversion_event=event,
        frequency_cap_impressions=3,
        frequency_cap_period="day",
    )
    group = AdGroupFactory(
        campaign=campaign,
        name="Runners",
        bid_strategy="target_cpa",
        bid_micros=9_000_000,
        targeting={"countries": ["FR", "DE"], "age_ranges": [{"min": 18, "max": 30}]},
    )
    AdGroupFactory(campaign=campaign, name="Old", status=AdGroup.Status.ARCHIVED, bid_strategy="lowest_cost",
                   bid_micros=None)  # fmt: skip
    kept = approved_creative(ad_group=group, name="Approved")
    CreativeFactory(ad_group=group, name="Pending")
    CreativeFactory(ad_group=group, name="Archived", status=Creative.Status.ARCHIVED)
    campaign.activate()

    response = callers.owner.post(f"{URL}/{campaign.pk}/duplicate")

    assert response.status_code == 201, response.content
    copy = Campaign.objects.get(pk=response.json()["id"])
    assert response["Location"].endswith(f"/api/v1/campaigns/{copy.pk}")
    assert (copy.name, copy.status, copy.advertiser) == ("Spring sale (copy)", "draft", callers.advertiser)
    assert (copy.objective, copy.conversion_event, copy.budget_micros) == (
        campaign.objective,
        event,
        campaign.budget_micros,
    )
    assert (copy.frequency_cap_impressions, copy.frequency_cap_period) == (3, "day")
    [group_copy] = copy.ad_groups.all()
    assert (group_copy.name, group_copy.status, group_copy.bid_micros) == ("Runners", "active", 9_000_000)
    assert group_copy.targeting == group.parsed_targeting.to_json()
    creatives = {c.name: c for c in group_copy.creatives.all()}
    assert set(creatives) == {"Approved", "Pending"}
    assert creatives["Approved"].review_status == "approved"
    assert creatives["Approved"].image.name == kept.image.name  # one stored file for both
    assert creatives["Pending"].review_status == "pending"
    assert campaign.ad_groups.count() == 2  # the original is untouched
    actions = AuditLog.objects.filter(source="api").values_list("object_type", "action")
    assert sorted(actions) == [
        ("campaigns.AdGroup", "create"),
        ("campaigns.Campaign", "duplicate"),
        ("campaigns.Creative", "create"),
        ("campaigns.Creative", "create"),
    ]


def test_a_creative_changed_since_its_approval_is_reviewed_again_in_the_copy(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser)
    creative = approved_creative(ad_group=AdGroupFactory(campaign=campaign))
    Creative.objects.filter(pk=creative.pk).update(approved_content_hash="0" * 64)  # approved other content

    copy = Campaign.objects.get(pk=callers.owner.post(f"{URL}/{campaign.pk}/duplicate").json()["id"])

    assert Creative.objects.get(ad_group__campaign=copy).review_status == "pending"


def test_copies_get_free_names_and_an_archived_campaign_can_start_again(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser, name="Sale")
    campaign.archive()

    names = [callers.owner.post(f"{URL}/{campaign.pk}/duplicate").json()["name"] for _ in range(3)]

    assert names == ["Sale (copy)", "Sale (copy 2)", "Sale (copy 3)"]


def test_a_long_name_is_cut_to_fit_its_copy_suffix(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser, name="x" * 200)

    name = callers.owner.post(f"{URL}/{campaign.pk}/duplicate").json()["name"]

    assert name == "x" * 193 + " (copy)"


def test_duplicate_honours_if_match(callers: Callers) -> None:
    campaign = CampaignFactory(advertiser=callers.advertiser)

    error_of(callers.owner.post(f"{URL}/{campaign.pk}/duplicate", **{"If-Match": '"stale"'}), 412)

    assert Campaign.objects.count() == 1


def test_a_manager_of_one_advertiser_of_the_agency_sees_only_that_one(
    tenants: Tenants, redis_client: Any
) -> None:
    sister = AdvertiserFactory(agency=tenants.advertiser.agency)
    CampaignFactory(advertiser=sister)
    mine = CampaignFactory(advertiser=tenants.advertiser)
    manager = MembershipFactory(advertiser=tenants.advertiser, role=Role.MANAGER).user

    response = Caller(client_for(manager)).get(URL)

    assert ids(response) == [mine.pk]
