"""/api/v1/ad-groups: create, read, update, list, targeting errors with their exact paths, the status
actions and duplication."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accounts.models import AuditLog
from campaigns.models import AdGroup, Campaign, Creative, Objective
from tests.campaigns.test_api_campaigns import (
    Callers,
    audit_entries,
    error_of,
    ids,
    key_caller,
    make_callers,
)
from tests.conftest import Tenants
from tests.factories import (
    AdGroupFactory,
    AdvertiserFactory,
    CampaignFactory,
    CreativeFactory,
    approved_creative,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def callers(tenants: Tenants, redis_client: Any) -> Callers:
    return make_callers(tenants)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


URL = "/api/v1/ad-groups"


def ad_group_body(campaign: Campaign, **fields: Any) -> dict[str, Any]:
    return {"campaign": campaign.pk, "name": "Runners", "bid_strategy": "manual_cpm", "bid_micros": 2_000_000,
            **fields}  # fmt: skip


@pytest.fixture
def campaign(callers: Callers) -> Campaign:
    return CampaignFactory(advertiser=callers.advertiser, objective=Objective.TRAFFIC)


# Create -------------------------------------------------------------------------------------------


def test_an_editor_creates_an_ad_group_with_derived_fields(callers: Callers, campaign: Campaign) -> None:
    body = ad_group_body(
        campaign,
        bid_strategy="manual_cpc",
        targeting={"countries": ["fr", "DE", "FR"], "age_ranges": [{"min": 18, "max": 24}]},
    )

    response = callers.owner_session.post(URL, body)

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["advertiser"] == callers.advertiser.pk
    assert (data["optimization_goal"], data["billing_event"], data["status"]) == ("clicks", "click", "active")
    assert data["targeting"]["countries"] == ["FR", "DE"]  # normalised as the model stores it
    assert data["targeting"]["age_ranges"] == [{"min": 18, "max": 24}]
    group = AdGroup.objects.get(pk=data["id"])
    assert group.targeting == data["targeting"]
    assert [e.action for e in audit_entries(group)] == ["create"]
    assert response["Location"].endswith(f"/api/v1/ad-groups/{group.pk}")


def test_read_only_fields_are_ignored(callers: Callers, campaign: Campaign) -> None:
    body = ad_group_body(
        campaign,
        advertiser=callers.tenants.other_advertiser.pk,
        status="archived",
        optimization_goal="conversions",
        billing_event="click",
    )

    response = callers.owner.post(URL, body)

    assert response.status_code == 201, response.content
    group = AdGroup.objects.get()
    assert (group.advertiser, group.status) == (callers.advertiser, "active")
    assert (group.optimization_goal, group.billing_event) == ("clicks", "impression")


@pytest.mark.parametrize(
    ("targeting", "fields"),
    [
        (
            {"countries": ["FR", "DE", "XX"]},
            {"targeting.countries[2]": ["'XX' is not an ISO 3166-1 country code."]},
        ),
        (
            {"age_ranges": [{"min": 18, "max": 24}, {"min": 40, "max": 30}], "languages": ["fr", "zz"]},
            {
                "targeting.age_ranges[1]": ["The minimum age (40) is above the maximum (30)."],
                "targeting.languages[1]": ["'zz' is not an ISO 639-1 language code."],
            },
        ),
        ({"planets": ["mars"]}, {"targeting.planets": ["Unknown targeting field."]}),
        ({"countries": "FR"}, {"targeting.countries": ["Must be a list."]}),
        (
            {"dayparting": [[False] * 24] * 7},
            {"targeting.dayparting": ["Dayparting must leave at least one hour open."]},
        ),
        (["FR"], {"targeting": ["Targeting must be an object."]}),
    ],
)
def test_targeting_errors_name_the_exact_item(
    callers: Callers, campaign: Campaign, targeting: Any, fields: dict[str, list[str]]
) -> None:
    error = error_of(callers.owner.post(URL, ad_group_body(campaign, targeting=targeting)), 400)

    assert error["fields"] == fields
    assert not AdGroup.objects.exists()


def test_the_message_names_the_path_of_a_single_error(callers: Callers, campaign: Campaign) -> None:
    error = error_of(
        callers.owner.post(URL, ad_group_body(campaign, targeting={"countries": ["US", "QQ"]})), 400
    )

    assert error["message"] == "targeting.countries[1]: 'QQ' is not an ISO 3166-1 country code."


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"bid_strategy": "target_cpa"}, "bid_strategy"),  # a traffic campaign does not bid on CPA
        ({"bid_strategy": "lowest_cost"}, "bid_micros"),  # lowest cost takes no bid
        ({"bid_micros": None}, "bid_micros"),
        ({"bid_micros": -5}, "bid_micros"),
        ({"name": ""}, "name"),
    ],
)
def test_model_rules_come_back_as_field_errors(
    callers: Callers, campaign: Campaign, fields: dict[str, Any], path: str
) -> None:
    error = error_of(callers.owner.post(URL, ad_group_body(campaign, **fields)), 400)

    assert path in error["fields"], error


def test_a_campaign_of_another_tenant_is_unknown(callers: Callers) -> None:
    foreign = CampaignFactory(advertiser=callers.tenants.other_advertiser)

    error = error_of(callers.owner.post(URL, ad_group_body(foreign)), 400)

    assert list(error["fields"]) == ["campaign"]
    assert not AdGroup.objects.exists()


def test_an_archived_campaign_takes_no_new_ad_group(callers: Callers, campaign: Campaign) -> None:
    campaign.archive()

    error = error_of(callers.owner.post(URL, ad_group_body(campaign)), 400)

    assert error["fields"] == {"campaign": ["The campaign is archived."]}


@pytest.mark.parametrize("who", ["analyst", "analyst_session"])
def test_an_analyst_cannot_create(callers: Callers, campaign: Campaign, who: str) -> None:
    error_of(getattr(callers, who).post(URL, ad_group_body(campaign)), 403)

    assert not AdGroup.objects.exists()


# Read and list ---------------------------------------------------------------------------------------


def test_retrieve_and_foreign_ids(callers: Callers) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)

    mine = callers.analyst.get(f"{URL}/{group.pk}")

    assert mine.status_code == 200 and mine.json()["campaign"] == group.campaign_id
    for response in (
        callers.outsider.get(f"{URL}/{group.pk}"),
        callers.outsider.patch(f"{URL}/{group.pk}", {"name": "x"}),
        callers.outsider.post(f"{URL}/{group.pk}/pause"),
        callers.outsider.post(f"{URL}/{group.pk}/duplicate"),
    ):
        error_of(response, 404)
    assert AdGroup.objects.get().status == "active"


def test_filters(callers: Callers) -> None:
    agency_key = key_caller(agency=callers.advertiser.agency)
    sister = AdvertiserFactory(agency=callers.advertiser.agency)
    first = AdGroupFactory(campaign__advertiser=callers.advertiser)
    paused = AdGroupFactory(campaign=first.campaign, status=AdGroup.Status.PAUSED, bid_strategy="lowest_cost",
                            bid_micros=None)  # fmt: skip
    elsewhere = AdGroupFactory(campaign__advertiser=sister)
    AdGroupFactory(campaign__advertiser=callers.tenants.other_advertiser)

    def listed(**params: Any) -> set[int]:
        return set(ids(agency_key.get(URL, params)))

    assert listed() == {first.pk, paused.pk, elsewhere.pk}
    assert listed(campaign=first.campaign_id) == {first.pk, paused.pk}
    assert listed(advertiser=sister.pk) == {elsewhere.pk}
    assert listed(status="paused") == {paused.pk}
    assert listed(bid_strategy="manual_cpm") == {first.pk, elsewhere.pk}


def test_listing_takes_the_same_queries_for_one_or_many(
    callers: Callers, django_assert_num_queries: Any
) -> None:
    AdGroupFactory(campaign__advertiser=callers.advertiser)
    callers.owner.get(URL)
    with django_assert_num_queries(2) as one:
        callers.owner.get(URL)
    campaign = CampaignFactory(advertiser=callers.advertiser)
    for _ in range(6):
        AdGroupFactory(campaign=campaign)
    with django_assert_num_queries(len(one.captured_queries)):
        assert len(callers.owner.get(URL).json()["results"]) == 7


# Update -------------------------------------------------------------------------------------------------


def test_a_patch_replaces_the_targeting_and_is_audited(callers: Callers) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser, targeting={"countries": ["US"]})

    response = callers.owner.patch(f"{URL}/{group.pk}", {"targeting": {"device_types": ["mobile"]}})

    assert response.status_code == 200, response.content
    group.refresh_from_db()
    assert (group.targeting["countries"], group.targeting["device_types"]) == ([], ["mobile"])
    assert audit_entries(group)[-1].action == "update"


def test_an_ad_group_cannot_move_to_another_campaign(callers: Callers) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)
    other = CampaignFactory(advertiser=callers.advertiser)

    error = error_of(callers.owner.patch(f"{URL}/{group.pk}", {"campaign": other.pk}), 400)

    assert list(error["fields"]) == ["campaign"]
    group.refresh_from_db()
    assert group.campaign != other


def test_targeting_errors_on_update_change_nothing(callers: Callers) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)
    before = AdGroup.objects.get(pk=group.pk).targeting

    error = error_of(callers.owner.patch(f"{URL}/{group.pk}", {"targeting": {"genders": ["robot"]}}), 400)

    assert list(error["fields"]) == ["targeting.genders[0]"]
    assert AdGroup.objects.get(pk=group.pk).targeting == before


def test_an_analyst_cannot_update(callers: Callers) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser, name="Before")

    error_of(callers.analyst.patch(f"{URL}/{group.pk}", {"name": "After"}), 403)

    assert AdGroup.objects.get().name == "Before"


# Actions ---------------------------------------------------------------------------------------------


def test_pause_activate_archive(callers: Callers) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)

    statuses = [callers.owner.post(f"{URL}/{group.pk}/{name}").json()["status"]
                for name in ("pause", "activate", "archive")]  # fmt: skip

    assert statuses == ["paused", "active", "archived"]
    assert [e.action for e in audit_entries(group)] == ["pause", "activate", "archive"]


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ("archived", "activate", "An archived ad group cannot be activated; duplicate it instead."),
        ("archived", "pause", "An archived ad group cannot be paused."),
        ("campaign_archived", "activate", "The campaign is archived."),
    ],
)
def test_refused_transitions_answer_409(callers: Callers, setup: str, action: str, message: str) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser, status=AdGroup.Status.PAUSED)
    if setup == "archived":
        group.archive()
    else:
        group.campaign.archive()

    error = error_of(callers.owner.post(f"{URL}/{group.pk}/{action}"), 409)

    assert error["message"] == message


def test_actions_honour_if_match(callers: Callers) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)
    etag = callers.owner.get(f"{URL}/{group.pk}")["ETag"]
    AdGroup.objects.filter(pk=group.pk).update(name="Changed meanwhile")

    error_of(callers.owner.post(f"{URL}/{group.pk}/pause", **{"If-Match": etag}), 412)

    assert AdGroup.objects.get().status == "active"


@pytest.mark.parametrize("action", ["pause", "activate", "archive", "duplicate"])
def test_an_analyst_cannot_use_actions(callers: Callers, action: str) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)

    error_of(callers.analyst.post(f"{URL}/{group.pk}/{action}"), 403)

    assert list(AdGroup.objects.values_list("status", flat=True)) == ["active"]


# Duplicate ------------------------------------------------------------------------------------------------


def test_duplicate_makes_a_paused_copy_in_the_same_campaign(callers: Callers) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser, name="Runners")
    approved = approved_creative(ad_group=group, name="Approved")
    CreativeFactory(ad_group=group, name="Archived", status=Creative.Status.ARCHIVED)

    response = callers.owner.post(f"{URL}/{group.pk}/duplicate")
    again = callers.owner.post(f"{URL}/{group.pk}/duplicate")

    assert response.status_code == 201, response.content
    copy = AdGroup.objects.get(pk=response.json()["id"])
    assert (copy.name, copy.status, copy.campaign) == ("Runners (copy)", "paused", group.campaign)
    assert again.json()["name"] == "Runners (copy 2)"
    [creative] = copy.creatives.all()
    assert (creative.name, creative.review_status, creative.image.name) == (
        "Approved",
        "approved",
        approved.image.name,
    )
    assert AuditLog.objects.filter(object_type="campaigns.AdGroup", action="duplicate").count() == 2


def test_no_copy_into_an_archived_campaign(callers: Callers) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)
    group.campaign.archive()

    error = error_of(callers.owner.post(f"{URL}/{group.pk}/duplicate"), 409)

    assert error["message"] == "The campaign is archived; duplicate the campaign instead."
    assert AdGroup.objects.count() == 1
